// Small helpers only; every page works without them.
// Keyboard: "/" focuses the page's search box; "n" / "p" go to the next / previous day.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]")) return;
  if (event.key === "/") {
    const search = document.querySelector("input[type=search]");
    if (search) { event.preventDefault(); search.focus(); }
  } else if (event.key === "n" || event.key === "p") {
    const link = document.querySelector(`[data-key="${event.key}"]`);
    if (link) { event.preventDefault(); link.click(); }
  }
});
// Rescheduling: the "reason for the change" typed once goes with whichever slot is chosen.
document.addEventListener("submit", (event) => {
  const source = document.querySelector(".reason-source");
  const carry = event.target.querySelector && event.target.querySelector(".carry-reason");
  if (source && carry) carry.value = source.value;
});
