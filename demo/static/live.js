// Live pages (demo/src/live.rs): a signed-in page hears when its session
// ends, here or anywhere (revoked from another device, kicked, expired).
// When the app ended it and said why, the event names the sign-in page
// that says so (`/login?ended=revoked`) and the page goes there by itself,
// unless it is already on its way somewhere (a form sent, a link followed,
// the page being left): that navigation gets there too, and two at once
// would race. Otherwise (it expired, the store went away) the page says at
// its top that the session ended, with a link that shows why. The admin
// page lists sign-ins and sign-outs as they happen. Without JavaScript the
// pages work as before: the next request finds the session gone.
(() => {
  let leaving = false;
  const leave = () => { leaving = true; };
  addEventListener('beforeunload', leave);
  addEventListener('pagehide', leave);
  document.addEventListener('submit', leave, true);
  document.addEventListener('click', (event) => {
    if (event.target instanceof Element && event.target.closest('a[href]')) leave();
  }, true);
  const live = document.body.dataset.live;
  if (live) {
    const source = new EventSource(live);
    source.addEventListener('ended', (message) => {
      source.close();
      const to = message.data || '/devices';
      const main = document.querySelector('main');
      if (main && !document.getElementById('live-ended')) {
        const notice = document.createElement('p');
        notice.id = 'live-ended';
        notice.className = 'notice';
        notice.setAttribute('role', 'alert');
        notice.append('This session has ended. ');
        const link = document.createElement('a');
        link.href = to;
        link.textContent = 'Sign in again';
        notice.append(link);
        main.prepend(notice);
      }
      if (message.data && !leaving) location.assign(message.data);
    });
  }
  const feed = document.getElementById('feed');
  if (feed) {
    const source = new EventSource('/live/admin');
    const show = (kind) => (message) => {
      const event = JSON.parse(message.data);
      const item = document.createElement('li');
      item.className = kind;
      const when = new Date(event.at_ms).toLocaleTimeString();
      const what = kind === 'signin'
        ? `${event.account} signed in on ${event.device}`
        : `${event.account} signed out of ${event.device} (${event.reason.replace('_', ' ')})`;
      item.textContent = `${when} ${what}`;
      feed.prepend(item);
      while (feed.children.length > 50) feed.lastElementChild.remove();
    };
    source.addEventListener('signin', show('signin'));
    source.addEventListener('signout', show('signout'));
  }
})();
