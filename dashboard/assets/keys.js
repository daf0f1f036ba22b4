// Keyboard control of the enforcement queue: j/k next/previous case; any element with data-hotkey="x" is
// clicked on key x (c claim, y confirm, d dismiss, r release). Keys typed into inputs are left alone,
// except Enter in the dismiss-reason box, which dismisses.
document.addEventListener('keydown', function (ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
  const target = ev.target;
  const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable);
  if (typing) {
    if (ev.key === 'Enter' && target.id === 'case-reason') {
      const dismiss = document.querySelector('[data-hotkey="d"]');
      if (dismiss) { dismiss.click(); }
    }
    return;
  }
  if (ev.key === 'j' || ev.key === 'k') {
    const rows = Array.from(document.querySelectorAll('.case-row'));
    if (!rows.length) { return; }
    const at = rows.findIndex(r => r.classList.contains('selected'));
    const next = at < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, at + (ev.key === 'j' ? 1 : -1)));
    rows[next].click();
    rows[next].scrollIntoView({block: 'nearest'});
    ev.preventDefault();
    return;
  }
  if (ev.key === 'd') {
    const reason = document.getElementById('case-reason');
    if (reason && !reason.value) { reason.focus(); ev.preventDefault(); return; }
  }
  const button = document.querySelector('[data-hotkey="' + ev.key + '"]');
  if (button) { button.click(); ev.preventDefault(); }
});
