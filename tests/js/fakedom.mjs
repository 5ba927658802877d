// A tiny HTML parser and selector engine: just enough DOM for extension/lib/metadata.js under
// node (querySelector/querySelectorAll with tag, #id, .class, [attr], [attr=v] and descendant
// combinators; getAttribute; textContent; title). Not a browser; fixtures are well-formed.

const VOID = new Set("area base br col embed hr img input link meta param source track wbr".split(" "));
const RAW = new Set(["script", "style", "textarea", "title"]);

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0", "#39": "'" };
export function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+\d*);/gi, (m, name) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[name.toLowerCase()] ?? m;
  });
}

class Node {
  constructor(tag, attrs = {}, parent = null) {
    this.tagName = tag;
    this.attrs = attrs;
    this.parent = parent;
    this.children = [];
  }
  getAttribute(name) {
    const v = this.attrs[name.toLowerCase()];
    return v === undefined ? null : v;
  }
  get textContent() {
    return this.children.map((c) => (typeof c === "string" ? c : c.textContent)).join("");
  }
  *descendants() {
    for (const c of this.children) {
      if (typeof c === "string") continue;
      yield c;
      yield* c.descendants();
    }
  }
  querySelectorAll(selector) {
    const groups = selector.split(",").map((s) => s.trim().split(/\s+/).map(parseCompound));
    return [...this.descendants()].filter((el) => groups.some((chain) => matchChain(el, chain)));
  }
  querySelector(selector) {
    return this.querySelectorAll(selector)[0] || null;
  }
}

function parseCompound(text) {
  const c = { tag: null, id: null, classes: [], attrs: [] };
  const re = /^([a-z0-9*-]+)|#([\w-]+)|\.([\w:-]+)|\[([\w-]+)(?:=["']?([^\]"']*)["']?)?\]/gi;
  let m;
  while ((m = re.exec(text))) {
    if (m[1]) c.tag = m[1].toLowerCase() === "*" ? null : m[1].toLowerCase();
    else if (m[2]) c.id = m[2];
    else if (m[3]) c.classes.push(m[3]);
    else c.attrs.push([m[4].toLowerCase(), m[5]]);
  }
  return c;
}

function matchCompound(el, c) {
  if (c.tag && el.tagName !== c.tag) return false;
  if (c.id && el.getAttribute("id") !== c.id) return false;
  const classes = (el.getAttribute("class") || "").split(/\s+/);
  if (!c.classes.every((k) => classes.includes(k))) return false;
  return c.attrs.every(([k, v]) => (v === undefined ? el.getAttribute(k) !== null : el.getAttribute(k) === v));
}

function matchChain(el, chain) {
  if (!matchCompound(el, chain[chain.length - 1])) return false;
  let i = chain.length - 2;
  for (let p = el.parent; p && i >= 0; p = p.parent) {
    if (p.tagName !== "#document" && matchCompound(p, chain[i])) i--;
  }
  return i < 0;
}

export function parseHTML(html) {
  const doc = new Node("#document");
  let cur = doc;
  const re = /<!--[\s\S]*?-->|<!doctype[^>]*>|<\/([a-z][\w:-]*)\s*>|<([a-z][\w:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*(\/?)>|([^<]+|<)/gi;
  let m;
  while ((m = re.exec(html))) {
    if (m[1]) {
      const tag = m[1].toLowerCase();
      for (let n = cur; n !== doc; n = n.parent) {
        if (n.tagName === tag) {
          cur = n.parent;
          break;
        }
      }
    } else if (m[2]) {
      const tag = m[2].toLowerCase();
      const attrs = {};
      const are = /([^\s=>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
      let a;
      while ((a = are.exec(m[3] || ""))) attrs[a[1].toLowerCase()] = decodeEntities(a[2] ?? a[3] ?? a[4] ?? "");
      const el = new Node(tag, attrs, cur);
      cur.children.push(el);
      if (RAW.has(tag)) {
        const end = html.toLowerCase().indexOf(`</${tag}`, re.lastIndex);
        const raw = html.slice(re.lastIndex, end < 0 ? html.length : end);
        el.children.push(tag === "title" || tag === "textarea" ? decodeEntities(raw) : raw);
        re.lastIndex = end < 0 ? html.length : html.indexOf(">", end) + 1;
      } else if (!VOID.has(tag) && !m[4]) {
        cur = el;
      }
    } else if (m[5] !== undefined) {
      cur.children.push(decodeEntities(m[5]));
    }
  }
  doc.title = (doc.querySelector("title")?.textContent || "").replace(/\s+/g, " ").trim();
  return doc;
}
