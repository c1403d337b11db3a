// Regenerates what the SDK derives from elsewhere, or (--check) fails if
// the checked-in copies differ from what would be generated:
// - wit/         a copy of the repository's ../../wit (shipped in the
//                package: a plugin built from a tarball has no repository)
// - types/wit/   TypeScript types of the two worlds, by jco's guest-types
// - lib/         the compiled SDK (src/ through tsc)
// So CI catches a WIT change the SDK has not followed, and a src/ edit
// whose lib/ was not regenerated.

import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sdk = dirname(dirname(fileURLToPath(import.meta.url)));
const repoWit = join(sdk, '..', '..', 'wit');
const WORLDS = ['filter', 'transform'];
const GENERATED = ['wit', join('types', 'wit'), 'lib'];

async function generate(into) {
  // 1. The WIT copy.
  const wit = join(into, 'wit');
  rmSync(wit, { recursive: true, force: true });
  mkdirSync(wit, { recursive: true });
  for (const name of readdirSync(repoWit).filter((n) => n.endsWith('.wit'))) {
    cpSync(join(repoWit, name), join(wit, name));
  }

  // 2. Guest types of each world. jco reads the WIT through the WASI
  // filesystem of @bytecodealliance/preview2-shim, which opens nothing by
  // default since 0.26: open the WIT folder in the instance jco uses.
  // (The WIT is read by jco-transpile, so its shim is the one to open.)
  const transpile = createRequire(import.meta.resolve('@bytecodealliance/jco')).resolve('@bytecodealliance/jco-transpile');
  const shim = await import(pathToFileURL(createRequire(transpile).resolve('@bytecodealliance/preview2-shim/filesystem')).href);
  shim._setPreopens({ [repoWit]: repoWit });
  const { types } = await import('@bytecodealliance/jco');
  const typesDir = join(into, 'types', 'wit');
  rmSync(typesDir, { recursive: true, force: true });
  const files = new Map();
  for (const world of WORLDS) {
    const out = await types(repoWit, { worldName: world, guest: true, outDir: '' });
    for (const [name, bytes] of Object.entries(out)) {
      const text = new TextDecoder().decode(bytes);
      // Both worlds emit the shared `types` interface; it must agree.
      if (files.has(name) && files.get(name) !== text) {
        throw new Error(`jco generated two different ${name}`);
      }
      files.set(name, text);
    }
  }
  for (const [name, text] of files) {
    const path = join(typesDir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `// Generated from wit/ by \`npm run generate\` (jco guest-types); do not edit.\n${text}`);
  }

  // 3. The compiled SDK. The type check runs against the types just
  // generated: tsc reads src/ and types/ of the folder given.
  const lib = join(into, 'lib');
  rmSync(lib, { recursive: true, force: true });
  const tsc = join(sdk, 'node_modules', 'typescript', 'bin', 'tsc');
  const project = into === sdk ? sdk : stageProject(into);
  execFileSync(process.execPath, [tsc, '-p', project, '--outDir', lib], { stdio: 'inherit' });
  // The package's bin: npm links it, and a path install runs it directly.
  chmodSync(join(lib, 'cli.js'), 0o755);
}

/** For --check: a copy of the project whose types/ are the fresh ones. */
function stageProject(into) {
  cpSync(join(sdk, 'src'), join(into, 'src'), { recursive: true });
  cpSync(join(sdk, 'tsconfig.json'), join(into, 'tsconfig.json'));
  // Type packages (@types/node) resolve from here.
  cpSync(join(sdk, 'package.json'), join(into, 'package.json'));
  execFileSync('ln', ['-s', join(sdk, 'node_modules'), join(into, 'node_modules')]);
  return into;
}

function listFiles(root) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const path = join(root, e.name);
    out = e.isDirectory() ? out.concat(listFiles(path)) : out.concat([path]);
  }
  return out;
}

function compare(fresh) {
  const drift = [];
  for (const dir of GENERATED) {
    const want = new Set(listFiles(join(fresh, dir)).map((p) => relative(fresh, p)));
    const have = new Set(listFiles(join(sdk, dir)).map((p) => relative(sdk, p)));
    for (const f of want) {
      if (!have.has(f)) drift.push(`missing: ${f}`);
      else if (!readFileSync(join(fresh, f)).equals(readFileSync(join(sdk, f)))) drift.push(`differs: ${f}`);
    }
    for (const f of have) if (!want.has(f)) drift.push(`not generated: ${f}`);
  }
  return drift;
}

if (process.argv.includes('--check')) {
  const fresh = mkdtempSync(join(tmpdir(), 'scaihub-sdk-check-'));
  try {
    await generate(fresh);
    const drift = compare(fresh);
    if (drift.length > 0) {
      console.error(`sdk/js is out of date with wit/ or src/:\n  ${drift.join('\n  ')}`);
      console.error('run `npm run generate` in sdk/js and commit the result');
      process.exit(1);
    }
    console.log(`sdk/js: wit/, types/wit/ and lib/ match what wit/ and src/ generate`);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
} else {
  await generate(sdk);
  console.log('sdk/js: regenerated wit/, types/wit/ and lib/');
}
