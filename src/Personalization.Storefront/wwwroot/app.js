// The demo shop's page script. Segment's analytics.js (@segment/analytics-next, unmodified) sends the events to the
// platform's gateway; the banner and the profile panel change through the live profile stream of this visitor.
'use strict';

const products = [
  { id: 'p-boots', name: 'Trail boots', price: 129, colour: '#8a5a44' },
  { id: 'p-jacket', name: 'Rain jacket', price: 149, colour: '#2f6f8f' },
  { id: 'p-pack', name: 'Day pack', price: 79, colour: '#4f7a3a' },
  { id: 'p-bottle', name: 'Steel bottle', price: 25, colour: '#7b7f88' },
  { id: 'p-socks', name: 'Wool socks', price: 19, colour: '#9b4f6a' },
  { id: 'p-lamp', name: 'Head lamp', price: 39, colour: '#c79a2e' },
];

const $ = (id) => document.getElementById(id);
const demo = (window.demo = { ready: false, streamState: 'connecting', consent: null });

/** The SDK as Segment's snippet loads it: calls made before it arrives are queued, then replayed. */
function loadAnalytics(config) {
  const methods = ['page', 'track', 'identify', 'group', 'alias', 'reset', 'ready', 'on', 'off', 'once', 'addSourceMiddleware', 'register', 'debug'];
  const stub = [];
  for (const method of methods) {
    stub[method] = (...args) => { stub.push([method, ...args]); return stub; };
  }
  stub._writeKey = config.writeKey;
  // Where it fetches its settings and lazy chunks: this site, which relays the settings from the gateway.
  stub._cdn = location.origin;
  window.analytics = stub;
  const script = document.createElement('script');
  script.src = '/analytics-next/bundles/standalone.js';
  script.async = true;
  document.head.appendChild(script);
  return new Promise((resolve) => window.analytics.ready(resolve));
}

function askConsent() {
  const gpc = navigator.globalPrivacyControl === true;
  $('gpc-note').hidden = !gpc;
  $('consent').hidden = false;
  return new Promise((resolve) => {
    const choose = (choice) => () => { $('consent').hidden = true; localStorage.setItem('demo-consent', choice); resolve(choice); };
    $('consent-accept').onclick = choose('granted');
    $('consent-refuse').onclick = choose('refused');
  });
}

/** Records the visitor's choice through the platform's consent API (write key, as the SDK sends); GPC keeps marketing and sale off. */
async function writeConsent(config, id, granted) {
  const gpc = navigator.globalPrivacyControl === true;
  const response = await fetch(`${config.gatewayUrl}/v1/consent/${encodeURIComponent(id)}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Authorization: 'Basic ' + btoa(config.writeKey + ':') },
    body: JSON.stringify({
      purposes: { analytics: granted, personalization: granted, marketing: granted && !gpc },
      source: 'demo-storefront',
      doNotSellOrShare: gpc,
    }),
  });
  if (!response.ok) throw new Error(`consent was not recorded: ${response.status}`);
}

function setStream(state) {
  demo.streamState = state;
  $('stream-state').textContent = state;
}

function showDecision(decision) {
  const banner = $('banner');
  banner.dataset.variant = decision.variant ?? '';
  $('banner-title').textContent = decision.content?.title ?? '';
  $('banner-text').textContent = decision.content?.text ?? '';
  $('banner-reason').textContent = 'why: ' + decision.reason;
}

function showProfile(profile) {
  $('profile-id').textContent = profile.profileId;
  $('profile-events').textContent = profile.totalEvents ?? 0;
  $('profile-viewed').textContent = profile.eventCounts?.['Product Viewed'] ?? 0;
  const segments = Object.keys(profile.segments ?? {});
  $('profile-segments').textContent = segments.length ? segments.join(', ') : 'none';
}

/** The visitor's live stream: a token minted by this site's server, then server-sent events from the gateway. */
async function openStream(config, id) {
  const minted = await fetch('/api/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ userId: id }) });
  if (!minted.ok) { setStream('no token: ' + minted.status); return; }
  const { token } = await minted.json();
  const url = `${config.gatewayUrl}/v1/profiles/${encodeURIComponent(id)}/stream?placements=${config.placement}`
    + `&fields=eventCounts,segments,totalEvents&access_token=${encodeURIComponent(token)}`;
  const stream = new EventSource(url);
  stream.onopen = () => setStream('live');
  stream.addEventListener('decision', (e) => showDecision(JSON.parse(e.data)));
  stream.addEventListener('profile', (e) => showProfile(JSON.parse(e.data)));
  stream.addEventListener('withheld', () => {
    stream.close();
    setStream('off');
    showDecision({ variant: 'off', content: { title: 'Personalization is off', text: 'You refused consent: nothing you do here is counted.' }, reason: 'consent refused' });
  });
  stream.onerror = () => {
    // The browser reconnects by itself (resuming with Last-Event-ID); once closed (an expired token), a new token.
    if (stream.readyState === EventSource.CLOSED && demo.streamState !== 'off') {
      setStream('reconnecting');
      setTimeout(() => openStream(config, id), 3000);
    } else if (demo.streamState !== 'off') {
      setStream('reconnecting');
    }
  };
}

function renderProducts() {
  for (const product of products) {
    const card = document.createElement('article');
    card.className = 'product';
    card.innerHTML = `<div class="swatch" style="background:${product.colour}"></div><h3></h3><p>${product.price} €</p><button type="button">View</button>`;
    card.querySelector('h3').textContent = product.name;
    card.querySelector('button').dataset.product = product.id;
    card.querySelector('button').onclick = () => view(product);
    $('products').appendChild(card);
  }
}

function view(product) {
  const detail = $('detail');
  detail.hidden = false;
  detail.innerHTML = `<h2></h2><p>${product.price} €</p><button type="button" id="add">Add to cart</button> <button type="button" id="buy">Buy now</button>`;
  detail.querySelector('h2').textContent = product.name;
  const properties = { product_id: product.id, name: product.name, price: product.price };
  // Nothing is sent before the visitor has answered the consent banner and the answer is recorded.
  const send = (event, eventProperties) => { if (demo.ready) analytics.track(event, eventProperties); };
  send('Product Viewed', properties);
  $('add').onclick = () => send('Product Added', properties);
  $('buy').onclick = () => send('Order Completed', { revenue: product.price, currency: 'EUR', products: [properties] });
}

async function main() {
  renderProducts();
  const config = await (await fetch('/api/config')).json();
  await loadAnalytics(config);
  const id = analytics.user().id() || analytics.user().anonymousId();
  demo.visitorId = id;
  const choice = localStorage.getItem('demo-consent') ?? await askConsent();
  demo.consent = choice;
  await writeConsent(config, id, choice === 'granted');
  await openStream(config, id);
  $('sign-in').onclick = () => {
    const userId = 'shopper-' + Math.random().toString(36).slice(2, 8);
    analytics.identify(userId, { name: 'Demo shopper' });
    $('sign-in').textContent = 'Signed in as ' + userId;
    $('sign-in').disabled = true;
  };
  analytics.page('Home');
  demo.ready = true;
}

main().catch((e) => { console.error(e); setStream('failed: ' + e.message); });
