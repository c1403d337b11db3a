// The hostile behaviours that can run under Node without harm: parsing,
// the escape reports, and that Node (which has fs, env and fetch) would be
// breached where the sandbox must hold.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Config, PluginError } from '@scaihub/plugin-sdk';
import { behaviour, escapeReport, misbehave } from './behaviour.ts';

const parse = (raw: string) => behaviour(new Config(raw));

describe('hostile behaviours', () => {
  it('parse with the Rust guests defaults', () => {
    assert.deepEqual(parse('{"behaviour": "infinite-loop"}'), { name: 'infinite-loop' });
    assert.deepEqual(parse('{"behaviour": "huge-output"}'), { name: 'huge-output', bytes: 64 << 20 });
    assert.deepEqual(parse('{"behaviour": "sleep"}'), { name: 'sleep', ms: 3_600_000 });
    assert.deepEqual(parse('{"behaviour": "long-error", "chars": 3}'), { name: 'long-error', chars: 3 });
    assert.deepEqual(parse('{"behaviour": "read-file", "path": "/x"}'), { name: 'read-file', path: '/x' });
    assert.deepEqual(parse('{"behaviour": "eval-large"}'), { name: 'eval-large', bytes: 10 << 20 });
  });

  it('refuse unknown or missing behaviours and options of another behaviour', () => {
    for (const raw of ['', '{"behaviour": "fork-bomb"}', '{"behaviour": "panic", "ms": 1}']) {
      assert.throws(() => parse(raw), (e: unknown) => e instanceof PluginError && e.kind === 'invalid-config', raw);
    }
  });

  it('say whether the sandbox held', () => {
    assert.equal(escapeReport('reading x', { denied: 'no' }).message, 'sandbox held: reading x failed: no');
    assert.match(escapeReport('reading x', { ok: 3 }).message, /^sandbox breached:/);
  });

  it('would breach Node itself, which is why plugins do not run in Node', async () => {
    process.env['HOSTILE_PROBE'] = 'x';
    await assert.rejects(misbehave(parse('{"behaviour": "read-env", "var": "HOSTILE_PROBE"}')), /^failed: sandbox breached: reading environment variable HOSTILE_PROBE/);
    await assert.rejects(
      misbehave(parse(`{"behaviour": "import-fs", "path": ${JSON.stringify(new URL(import.meta.url).pathname)}}`)),
      /sandbox breached/,
    );
  });

  it('end a short sleep and fail with a long error of whole characters', async () => {
    await misbehave(parse('{"behaviour": "sleep", "ms": 1}'));
    await assert.rejects(misbehave(parse('{"behaviour": "long-error", "chars": 5}')), (e: unknown) =>
      e instanceof PluginError && e.message === '€€€€€',
    );
  });
});
