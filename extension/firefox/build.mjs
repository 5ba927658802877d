// Builds the Firefox variant: the same files as extension/, with firefox/manifest.json.
//   node extension/firefox/build.mjs [OUT_DIR]      (default: build/firefox, git-ignored)
// then e.g.  npx web-ext lint -s build/firefox   or   npx web-ext run -s build/firefox
import { cpSync, mkdirSync, rmSync, copyFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const extension = resolve(here, "..");
const out = resolve(process.argv[2] || join(extension, "..", "build", "firefox"));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(extension, out, {
  recursive: true,
  filter: (src) => !src.startsWith(here) && !src.endsWith("README.md"),
});
copyFileSync(join(here, "manifest.json"), join(out, "manifest.json"));
console.log(out);
