// `node --import @scaihub/plugin-sdk/register --test test/*.test.ts`:
// installs ./hooks.ts so Node loads TypeScript tests and plugin sources.

import { register } from 'node:module';

register('./hooks.js', import.meta.url);
