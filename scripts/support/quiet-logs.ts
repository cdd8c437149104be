// Imported first by the quick-start scripts: their output is for a person, so logs default to warnings only.
process.env.KEYWAY_LOG_LEVEL ??= 'warn';
