// Live pages (demo/src/live.rs): a signed-in page hears when its session
// ends, here or anywhere (revoked from another device, kicked, expired),
// and says so at the top of the page with a link that shows why; the
// admin page lists sign-ins and sign-outs as they happen. The page is not
// navigated away by itself: a form being sent, or a page being left, must
// not race a reload. Without JavaScript the pages work as before: the next
// request finds the session gone.
(() => {
  const live = document.body.dataset.live;
  if (live) {
    const source = new EventSource(live);
    source.addEventListener('ended', () => {
      source.close();
      const main = document.querySelector('main');
      if (!main || document.getElementById('live-ended')) return;
      const notice = document.createElement('p');
      notice.id = 'live-ended';
      notice.className = 'notice';
      notice.setAttribute('role', 'alert');
      notice.append('This session has ended. ');
      const link = document.createElement('a');
      link.href = '/devices';
      link.textContent = 'Sign in again';
      notice.append(link);
      main.prepend(notice);
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
