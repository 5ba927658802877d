/**
 * Runs on web pages: if the page is a paper, asks lib/metadata.js for it and sends one
 * message to the worker. On single-page apps (Semantic Scholar, alphaXiv, Hugging Face,
 * OpenReview) it also notices client-side navigations (history.pushState) and reports the new
 * paper once the page shows it. Pages that are not papers cost one cheap check and nothing else.
 */
(() => {
  const KNOWN =
    /(^|\.)(arxiv\.org|alphaxiv\.org|huggingface\.co|openreview\.net|semanticscholar\.org|aclanthology\.org|aclweb\.org|biorxiv\.org|medrxiv\.org)$/;
  const SIGNS =
    'meta[name^="citation_" i], meta[name="dc.identifier" i], meta[name="prism.doi" i], meta[name="citation_doi" i]';
  const spa = KNOWN.test(location.hostname);

  let metadata = null;
  let lastUrl = null;
  let lastPaper = null;
  let scanning = false;

  const load = async () => (metadata ||= await import(chrome.runtime.getURL("lib/metadata.js")));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function scan() {
    if (scanning || location.href === lastUrl) return;
    scanning = true;
    try {
      const url = location.href;
      if (!spa && !document.querySelector(SIGNS)) {
        lastUrl = url;
        return;
      }
      const { extractPaper } = await load();
      let paper = extractPaper(url, document);
      // After a client-side navigation the page may still show the previous paper for a
      // moment: wait until its title changes, else report the new id alone.
      for (let i = 0; paper && lastPaper && paper.id !== lastPaper.id && paper.title === lastPaper.title && i < 16; i++) {
        await sleep(250);
        if (location.href !== url) return;
        paper = extractPaper(url, document);
      }
      if (paper && lastPaper && paper.id !== lastPaper.id && paper.title === lastPaper.title) {
        paper = { id: paper.id, url: paper.url, title: "", authors: [], abstract: "" };
      }
      lastUrl = url;
      if (!paper) return;
      lastPaper = paper;
      await chrome.runtime.sendMessage({ type: "paper", paper });
    } catch (error) {
      // The extension was reloaded or the worker is unreachable: nothing to do on this page.
      console.debug("NextPaper:", error);
    } finally {
      scanning = false;
    }
  }

  scan();
  if (spa) {
    // Content scripts cannot see the page's history.pushState; watch the URL instead.
    setInterval(scan, 500);
    addEventListener("popstate", () => setTimeout(scan, 50));
  }
})();
