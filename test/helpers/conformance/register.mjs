// Node 20 shim for @modelcontextprotocol/conformance, loaded with `node --import` (test/helpers/conformance.ts).
// Its dist imports globSync from 'fs', which Node has only from 22: this resolve hook hands the package a module
// re-exporting node:fs plus a globSync for the one pattern it uses. It can go once Node 22 is Serika's floor
// (package.json engines); the helper only loads it when node:fs has no globSync.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
