/**
 * The cluster spec, in one import for code that has not moved to the modules it uses: the schema
 * and types (schema.ts), validation (resolve.ts) and the sources (load.ts).
 */
export * from './load.js';
export * from './resolve.js';
export * from './schema.js';
