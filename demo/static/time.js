// Progressive enhancement: the server writes each time as "3 min ago"
// with its UTC in the tooltip; this shows the local date and time as
// well, and keeps the relative text current. Without it, pages still
// read well.
(function () {
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  function relative(then) {
    const secs = Math.round((then - Date.now()) / 1000);
    const abs = Math.abs(secs);
    if (abs < 5) return 'just now';
    for (const [unit, size] of units) {
      if (abs >= size) {
        const n = Math.floor(abs / size);
        return secs < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
      }
    }
    return 'just now';
  }
  function update() {
    for (const el of document.querySelectorAll('time[datetime]')) {
      const then = new Date(el.getAttribute('datetime'));
      if (isNaN(then)) continue;
      const local = then.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
      el.textContent = `${relative(then)} (${local})`;
      el.dataset.local = 'yes';
    }
  }
  update();
  setInterval(update, 15000);
})();
