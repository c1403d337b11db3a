// The shared tables in plugins/cases/*.json, run against the TypeScript
// examples through their WIT exports (the Rust crates run the same tables
// natively, and component-test/ runs them through the built components):
// same inputs, same outcomes.

import { describe, it } from 'node:test';
import type { JsonObject } from '@scaihub/plugin-sdk';
import { runFilter, runTransform } from '@scaihub/plugin-sdk/testing';
import { filter as payloadFieldFilter } from '../payload-field-filter/plugin.ts';
import { transform as piiRedact } from '../pii-redact/plugin.ts';
import { transform as chatMessage } from '../chat-message/plugin.ts';
import { transform as mspBranding } from '../msp-branding/plugin.ts';
import { type Case, check, config, event, request, table } from './cases.ts';

const RUN = {
  'payload-field-filter': (c: Case) => runFilter(payloadFieldFilter, event(c), config(c)),
  'pii-redact': (c: Case) => runTransform(piiRedact, event(c), request(c), config(c)),
  'chat-message': (c: Case) => runTransform(chatMessage, event(c), request(c), config(c)),
  'msp-branding': (c: Case) => runTransform(mspBranding, event(c), request(c), config(c)),
} as const;

for (const [plugin, run] of Object.entries(RUN)) {
  describe(`shared cases: ${plugin}`, () => {
    for (const c of table(plugin as keyof typeof RUN)) {
      it(c.name, () => check(run(c), c['expect'] as JsonObject));
    }
  });
}
