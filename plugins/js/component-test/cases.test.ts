// The shared tables in plugins/cases/*.json, run against the built
// components in dist/ (./build.sh): the real compiled plugin, SpiderMonkey
// engine and all, transpiled by jco and run by Node, so the engine inside
// the component is held to the same outcomes as Node and Rust. Run by
// ../test.sh after ./build.sh; fails if a component is missing.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { JsonObject } from '@scaihub/plugin-sdk';
import { type LoadedComponent, loadComponent } from '@scaihub/plugin-sdk/component';
import { runFilter, runTransform } from '@scaihub/plugin-sdk/testing';
import { check, config, EXAMPLES, event, request, table } from '../test/cases.ts';

for (const [plugin, kind] of Object.entries(EXAMPLES) as [keyof typeof EXAMPLES, string][]) {
  describe(`shared cases through dist/${plugin}.wasm`, () => {
    const path = new URL(`../dist/${plugin}.wasm`, import.meta.url).pathname;
    let component: LoadedComponent;
    before(async () => {
      assert.ok(existsSync(path), `${path} is missing: run ./build.sh first`);
      component = await loadComponent(path);
    });
    after(() => component?.close());

    for (const c of table(plugin)) {
      it(c.name, () => {
        const outcome =
          kind === 'filter'
            ? runFilter(component.filter as never, event(c), config(c))
            : runTransform(component.transform as never, event(c), request(c), config(c));
        check(outcome, c['expect'] as JsonObject);
      });
    }
  });
}
