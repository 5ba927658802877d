/**
 * The toolbar badge of a tab whose paper was recorded: what it says, and in which colour.
 *
 * Pure (no chrome.*), unit-tested under node; the service worker applies the answer per tab
 * with chrome.action (Chromium, and Firefox's MV3 `action`). A recorded open is "sent" once
 * the backend acknowledged it (it has left the outbox), else it waits in the outbox: because
 * the backend is down, or because it rejects the token.
 */

export const BADGES = {
  sent: { text: "✓", color: "#1a7f37", title: "NextPaper: this paper was recorded" },
  waiting: {
    text: "…",
    color: "#9a6700",
    title: "NextPaper: this paper was recorded here and waits to be sent to your server",
  },
  offline: {
    text: "…",
    color: "#9a6700",
    title: "NextPaper: this paper was recorded here; your server can't be reached, so it waits to be sent",
  },
  rejected: {
    text: "!",
    color: "#cf222e",
    title: "NextPaper: this paper waits to be sent; your server rejected the token (see the settings)",
  },
};

/**
 * The badge for a tab whose open has the outbox id `eventId`.
 *
 * @param {string} eventId the open's event id
 * @param {Array<{id: string}>} queue the outbox (events not yet acknowledged)
 * @param {{unauthorized?: boolean, lastError?: string|null}} sync the outbox's last send result
 * @returns {{text: string, color: string, title: string}}
 */
export function badgeFor(eventId, queue, sync = {}) {
  const waiting = Array.isArray(queue) && queue.some((event) => event && event.id === eventId);
  if (!waiting) return BADGES.sent;
  if (sync && sync.unauthorized) return BADGES.rejected;
  if (sync && sync.lastError) return BADGES.offline;
  return BADGES.waiting;
}
