// scaihub-plugin build: the mistakes caught before componentize-js runs
// (bundling only; the components themselves are built and run against the
// real host by plugins/js/build.sh and the guides).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../lib/cli.js', import.meta.url));

function build(source: string, ...args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'sdk-build-test-'));
  const path = join(dir, 'plugin.ts');
  writeFileSync(path, source);
  const run = spawnSync(process.execPath, [cli, 'build', path, ...args], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

describe('scaihub-plugin build', () => {
  it('refuses a module that exports neither world', () => {
    const { status, stderr } = build('export const nothing = 1;');
    assert.equal(status, 1);
    assert.match(stderr, /exports neither `filter` nor `transform`/);
  });

  it('refuses a --kind the module does not export', () => {
    const { status, stderr } = build('export const filter = () => "deliver";', '--kind', 'transform');
    assert.equal(status, 1);
    assert.match(stderr, /does not export `transform`; write `export const transform = defineTransform/);
  });

  it('explains that Node modules do not exist in the sandbox', () => {
    const { status, stderr } = build('import { readFileSync } from "node:fs";\nexport const filter = () => readFileSync("/x");');
    assert.equal(status, 1);
    assert.match(stderr, /node:fs/);
    assert.match(stderr, /sandbox without Node\.js modules/);
  });

  it('shows TypeScript syntax errors with their line', () => {
    const { status, stderr } = build('export const filter = (: number) => 1;');
    assert.equal(status, 1);
    assert.match(stderr, /plugin\.ts:1:\d+/);
  });

  it('checks its arguments', () => {
    const run = spawnSync(process.execPath, [cli, 'build', 'x.ts', '--kind', 'sorter'], { encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--kind must be filter or transform, not sorter/);
  });
});
