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
// A select with data-autosubmit submits its form when changed (the day list's station).
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit")) target.form.submit();
});
// Rescheduling: the "reason for the change" typed once goes with whichever slot is chosen.
document.addEventListener("submit", (event) => {
  const source = document.querySelector(".reason-source");
  const carry = event.target.querySelector && event.target.querySelector(".carry-reason");
  if (source && carry) carry.value = source.value;
});
// Booking: a chosen slot is confirmed in a dialog naming the patient, the exam, the
// room and the time before anything is booked. Without JavaScript the slot button
// books at once (the server checks everything either way).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const dialog = document.getElementById("confirm-booking");
  if (!dialog || !form.classList || !form.classList.contains("slot-form") || form.dataset.confirmed === "yes") return;
  event.preventDefault();
  const button = form.querySelector("button.slot");
  const fill = (name, text) => { const el = dialog.querySelector(`[data-fill="${name}"]`); if (el) el.textContent = text; };
  fill("station", button.dataset.stationName || button.dataset.station);
  fill("when", button.dataset.when || button.dataset.start);
  const source = document.querySelector(".reason-source");
  const missing = dialog.querySelector('[data-fill="missing-reason"]');
  const confirm = dialog.querySelector("[data-confirm]");
  if (source) {
    fill("reason", source.value.trim());
    const empty = source.value.trim() === "";
    missing.hidden = !empty;
    confirm.disabled = empty;
  }
  dialog.onclose = () => {
    if (dialog.returnValue === "confirm") {
      form.dataset.confirmed = "yes";
      form.requestSubmit();
    } else if (source && source.value.trim() === "") {
      source.focus();
    }
  };
  dialog.returnValue = "";
  dialog.showModal();
});
