// The two manifests (Chromium and Firefox), minimal permissions, strict CSP, no remote code,
// and no HTML insertion anywhere in the extension's code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, mkdtempSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const ext = fileURLToPath(new URL("../../extension/", import.meta.url));
const chromium = JSON.parse(readFileSync(join(ext, "manifest.json"), "utf8"));
const firefox = JSON.parse(readFileSync(join(ext, "firefox", "manifest.json"), "utf8"));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : [join(dir, d.name)],
  );
}

test("Chromium manifest: MV3 module worker, side panel, options, files exist", () => {
  assert.equal(chromium.manifest_version, 3);
  assert.deepEqual(chromium.background, { service_worker: "service-worker.js", type: "module" });
  const referenced = [
    chromium.background.service_worker,
    chromium.side_panel.default_path,
    chromium.options_ui.page,
    ...chromium.content_scripts.flatMap((c) => c.js),
    ...chromium.web_accessible_resources.flatMap((w) => w.resources),
    ...Object.values(chromium.icons),
  ];
  for (const file of referenced) assert.ok(existsSync(join(ext, file)), file);
});

test("permissions are the minimal, documented set", () => {
  assert.deepEqual([...chromium.permissions].sort(), ["alarms", "sidePanel", "storage"]);
  assert.deepEqual([...firefox.permissions].sort(), ["alarms", "storage"]);
  const readme = readFileSync(join(ext, "README.md"), "utf8");
  for (const p of [...chromium.permissions, ...chromium.host_permissions, ...chromium.optional_host_permissions]) {
    assert.ok(readme.includes(`\`${p}\``), `README justifies ${p}`);
  }
});

test("CSP is strict and there is no remote code", () => {
  for (const m of [chromium, firefox]) {
    const csp = m.content_security_policy.extension_pages;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-|https?:\/\/[^ ;]*\.js/);
    assert.match(csp, /object-src 'none'/);
  }
  for (const file of files(ext).filter((f) => f.endsWith(".html"))) {
    const html = readFileSync(file, "utf8");
    for (const m of html.matchAll(/<script\b[^>]*>/g)) assert.match(m[0], /src="[a-z-]+\.js"/, `${file}: ${m[0]}`);
    assert.doesNotMatch(html, /\son[a-z]+=/i, `${file} has an inline handler`);
  }
});

test("no HTML insertion, eval or remote imports in extension code", () => {
  for (const file of files(ext).filter((f) => f.endsWith(".js") || f.endsWith(".mjs"))) {
    const code = readFileSync(file, "utf8");
    assert.doesNotMatch(code, /\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(/, file);
    assert.doesNotMatch(code, /import\s*\(?\s*["']https?:/, file);
  }
});

test("Firefox variant: background scripts, sidebar_action, gecko id, same behaviour", () => {
  assert.equal(firefox.manifest_version, 3);
  assert.deepEqual(firefox.background, { scripts: ["service-worker.js"], type: "module" });
  assert.equal(firefox.sidebar_action.default_panel, chromium.side_panel.default_path);
  assert.match(firefox.browser_specific_settings.gecko.id, /@/);
  assert.equal(firefox.version, chromium.version);
  assert.deepEqual(firefox.content_scripts, chromium.content_scripts);
  assert.deepEqual(firefox.host_permissions, chromium.host_permissions);
  assert.deepEqual(firefox.optional_host_permissions, chromium.optional_host_permissions);
  assert.equal(firefox.side_panel, undefined);
});

test("the Firefox build has every file with the Firefox manifest", () => {
  const out = mkdtempSync(join(tmpdir(), "nextpaper-firefox-"));
  try {
    execFileSync(process.execPath, [join(ext, "firefox", "build.mjs"), out]);
    assert.deepEqual(JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")), firefox);
    for (const file of ["service-worker.js", "sidepanel.html", "options.html", "content.js", "lib/ids.js", "lib/metadata.js"]) {
      assert.ok(existsSync(join(out, file)), file);
    }
    assert.equal(existsSync(join(out, "firefox")), false);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
