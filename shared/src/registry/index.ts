export * from './audit.js';
export * from './compatibility.js';
export * from './draft04.js';
export * from './envelope-shape.js';
export * from './metadata.js';
export * from './registry.js';
