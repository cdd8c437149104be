import type { Plugin } from 'esbuild';

/**
 * esbuild plugin that replaces the two native-addon loaders our dependencies use (`bindings` for
 * better-sqlite3 and epoll, `node-gyp-build` for serialport). Both find the addon by walking up from the
 * package's own folder, which does not exist inside a single executable; and a SEA's built-in `require`
 * loads only Node's own modules. The replacements load the addon with a real `require` made by
 * `createRequire`, from one folder:
 *   - `KEYWAY_NATIVE_DIR` when set (tests, unusual installs);
 *   - else the executable's folder when running as a SEA (the tarball layout);
 *   - else the bundle file's own folder (the hub's plain `node main.cjs` bundle).
 * Inside that folder: `native/<name>.node` and `prebuilds/<platform>-<arch>/*.node`.
 * The agent's source needs no change: `import Database from 'better-sqlite3'` works under tsx and bundled.
 */
const BASE = `
const path = require('node:path');
const fs = require('node:fs');
const { createRequire } = require('node:module');
function keywayNativeBase() {
  if (process.env.KEYWAY_NATIVE_DIR) return process.env.KEYWAY_NATIVE_DIR;
  let sea = false;
  try { sea = require('node:sea').isSea(); } catch { sea = false; }
  return sea ? path.dirname(process.execPath) : __dirname;
}
function keywayLoad(file, what) {
  try {
    return createRequire(path.join(path.dirname(file), 'loader.js'))(file);
  } catch (cause) {
    const err = new Error('cannot load the native addon ' + what + ' from ' + file +
      '; keep the native/ and prebuilds/ folders beside the executable, or set KEYWAY_NATIVE_DIR to the folder holding them');
    err.cause = cause;
    throw err;
  }
}
`;

const BINDINGS = `${BASE}
module.exports = function bindings(opts) {
  const name = typeof opts === 'string' ? opts : opts.bindings;
  const file = name.endsWith('.node') ? name : name + '.node';
  return keywayLoad(path.join(keywayNativeBase(), 'native', file), file);
};
`;

const NODE_GYP_BUILD = `${BASE}
function load(_dir) {
  const dir = path.join(keywayNativeBase(), 'prebuilds', process.platform + '-' + process.arch);
  let names = [];
  try { names = fs.readdirSync(dir).filter((n) => n.endsWith('.node')); } catch { names = []; }
  const glibc = names.filter((n) => !n.includes('musl'));
  const pick = glibc[0] || names[0];
  if (!pick) return keywayLoad(path.join(dir, '(no .node file)'), 'prebuild for ' + process.platform + '-' + process.arch);
  return keywayLoad(path.join(dir, pick), pick);
}
load.path = function () { throw new Error('node-gyp-build.path is not available in a bundled build'); };
module.exports = load;
`;

/**
 * aws-crt's loader (dist/native/binding.js) looks in its own package's dist/bin/<platform>-<arch>-<libc>/ and
 * then AWS_CRT_NODEJS_BINARY_ABSOLUTE_PATH, and loads with the module's plain `require`, which a SEA limits to
 * Node's own modules. The replacement honours the same variable, else loads native/aws-crt-nodejs.node, and keeps
 * the module's exports (default = the addon, cRuntime, CRuntimeType). Controllers are glibc systems.
 */
const AWS_CRT_BINDING = `${BASE}
Object.defineProperty(exports, '__esModule', { value: true });
exports.CRuntimeType = Object.freeze({ NON_LINUX: 'cruntime', MUSL: 'musl', GLIBC: 'glibc' });
exports.cRuntime = process.platform === 'linux' ? 'glibc' : 'cruntime';
exports.default = keywayLoad(
  process.env.AWS_CRT_NODEJS_BINARY_ABSOLUTE_PATH || path.join(keywayNativeBase(), 'native', 'aws-crt-nodejs.node'),
  'aws-crt-nodejs.node',
);
`;

/**
 * Optional native speed-ups that `ws` (under mqtt.js) tries inside try/catch. Left as plain `require` they reach
 * the SEA's builtin-only require, which warns on stderr at every start; we do not ship them, so they resolve to
 * a module that fails the way a missing package does.
 */
const OPTIONAL_ABSENT = /^(bufferutil|utf-8-validate)$/;
const ABSENT = `const e = new Error('optional module not bundled'); e.code = 'MODULE_NOT_FOUND'; throw e;`;

export function nativeShimsPlugin(): Plugin {
  return {
    name: 'keyway-native-shims',
    setup(build) {
      build.onLoad({ filter: /[\\/]aws-crt[\\/]dist[\\/]native[\\/]binding\.js$/ }, () => ({ contents: AWS_CRT_BINDING, loader: 'js', resolveDir: process.cwd() }));
      build.onResolve({ filter: OPTIONAL_ABSENT }, (args) => ({ path: args.path, namespace: 'keyway-absent' }));
      build.onLoad({ filter: /.*/, namespace: 'keyway-absent' }, () => ({ contents: ABSENT, loader: 'js' }));
      build.onResolve({ filter: /^(bindings|node-gyp-build)$/ }, (args) => ({ path: args.path, namespace: 'keyway-native' }));
      build.onLoad({ filter: /.*/, namespace: 'keyway-native' }, (args) => ({
        contents: args.path === 'bindings' ? BINDINGS : NODE_GYP_BUILD,
        loader: 'js',
        resolveDir: process.cwd(),
      }));
    },
  };
}
