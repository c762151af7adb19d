// common.js: what every page of the web front end shares: the API client
// (the envelopes of docs/openapi.yaml), the member's sign-in (a member JWT
// kept in localStorage and sent as "Authorization: Bearer"), turning an
// error envelope into a readable message (never raw JSON; a 401 offers the
// sign-in), the front end's configuration (/config.json), the local stack's
// demo members (/demo-members.json), small DOM helpers, numbers and dates in
// Korean style.

/** Korean headline per errorType (the English errorMessage follows it). */
const ERROR_TITLES = {
    NO_RESOURCE: '찾을 수 없습니다',
    INVALID_PARAMETER: '요청 값이 올바르지 않습니다',
    CONFLICT: '지금은 처리할 수 없는 상태입니다',
    UNAUTHORIZED: '인증이 필요합니다',
    FORBIDDEN: '권한이 없습니다',
    METHOD_NOT_ALLOWED: '허용되지 않는 요청입니다',
    PAYLOAD_TOO_LARGE: '요청이 너무 큽니다',
    UNSUPPORTED_MEDIA_TYPE: '지원하지 않는 요청 형식입니다',
    EXTERNAL_API_ERROR: '결제사에서 처리하지 못했습니다',
    SERVICE_UNAVAILABLE: '서비스를 잠시 이용할 수 없습니다. 잠시 후 다시 시도해 주세요',
    UNKNOWN_ERROR: '알 수 없는 오류가 발생했습니다',
    NETWORK: '서버에 연결할 수 없습니다',
};

const TOKEN_KEY = 'memberapi.memberToken';

/** The signed-in member's token, or null. */
export function memberToken() {
    try {
        return window.localStorage.getItem(TOKEN_KEY);
    } catch (e) {
        return null;
    }
}

/** The claims of a JWT, read without verifying them (the API verifies;
 *  the page only labels itself with them), or null. */
function tokenClaims(token) {
    try {
        const part = String(token || '').split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
        const claims = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
        return claims && typeof claims === 'object' ? claims : null;
    } catch (e) {
        return null;
    }
}

/** The member id (`sub`) of a JWT, or null. */
export function tokenUserId(token) {
    const claims = tokenClaims(token);
    return claims ? positiveId(claims.sub) : null;
}

/** When a JWT expires (a Date from its `exp`), or null. */
export function tokenExpiry(token) {
    const claims = tokenClaims(token);
    return claims && Number.isInteger(claims.exp) ? new Date(claims.exp * 1000) : null;
}

/** Signs in with a member token (a JWT from the identity provider; locally,
 *  POST /internal/v1/users/{id}/tokens mints one). Returns the member id or
 *  null when the text is not a JWT. */
export function signIn(token) {
    const t = String(token || '').trim();
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(t) || !tokenUserId(t)) return null;
    window.localStorage.setItem(TOKEN_KEY, t);
    return tokenUserId(t);
}

export function signOut() {
    window.localStorage.removeItem(TOKEN_KEY);
}

const ORDERS_KEY = 'memberapi.orders.';
const ORDERS_KEPT = 20;

/** Remembers a payment this browser started for the member (newest first, the
 *  last 20): the my page reads them back with GET /api/v1/payments/{orderId},
 *  since the API has no list of a member's payments yet. */
export function rememberOrder(userId, orderId) {
    try {
        const list = recentOrders(userId).filter((o) => o !== orderId);
        list.unshift(orderId);
        window.localStorage.setItem(ORDERS_KEY + userId, JSON.stringify(list.slice(0, ORDERS_KEPT)));
    } catch (e) {
        // storage full or off: the my page still finds the granted ones in the ledger
    }
}

export function recentOrders(userId) {
    try {
        const list = JSON.parse(window.localStorage.getItem(ORDERS_KEY + userId) || '[]');
        return Array.isArray(list) ? list.filter((o) => typeof o === 'string' && /^[A-Za-z0-9_-]{6,64}$/.test(o)) : [];
    } catch (e) {
        return [];
    }
}

/**
 * The local stack's demo members: [{userId, name, token}] from
 * /demo-members.json, which only the local stack writes (scripts/lib/stack.sh
 * demo_members); anywhere else the file is absent and this is [] (the pages
 * then offer only the paste-a-token form).
 */
export async function loadDemoMembers() {
    try {
        const r = await fetch('/demo-members.json', { cache: 'no-store' });
        if (!r.ok) return [];
        const j = await r.json();
        return (Array.isArray(j && j.members) ? j.members : [])
            .filter((m) => m && positiveId(m.userId) && typeof m.token === 'string' && tokenUserId(m.token));
    } catch (e) {
        return [];
    }
}

/**
 * "데모 회원으로 로그인": a button per demo member in container (hidden when
 * there are none). onSignedIn(userId) runs after the token is stored.
 */
export async function showDemoMembers(container, onSignedIn) {
    const members = await loadDemoMembers();
    container.classList.toggle('hidden', members.length === 0);
    if (members.length === 0) return;
    const now = Date.now();
    container.replaceChildren(
        el('p', { class: 'label', id: 'demo-title' }, '데모 회원으로 로그인'),
        el('ul', { class: 'demo-members', 'aria-labelledby': 'demo-title' }, members.map((m) => {
            const exp = tokenExpiry(m.token);
            const expired = exp && exp.getTime() <= now;
            return el('li', {}, el('button', {
                type: 'button', class: 'secondary', 'data-user-id': m.userId,
                title: expired ? '토큰이 만료되었습니다: scripts/run을 다시 시작하면 새로 발급됩니다' : null,
                onclick: () => {
                    const id = signIn(m.token);
                    if (id) onSignedIn(id);
                },
            }, `${m.name || '회원'} (회원 ${m.userId})`, expired ? ' · 만료됨' : ''));
        })),
        el('p', { class: 'note' }, '로컬 스택이 시작할 때 발급한 토큰입니다 (운영 환경에는 없습니다).'));
}

/**
 * Calls the API (with the member's token when signed in). Resolves (never rejects) to
 *   {ok: true, status, data}                     for a success envelope
 *   {ok: false, status, error: {errorType, errorMessage, pgCode?, pgMessage?, requestId?, data?}}
 * A body that is not an envelope (a proxy's HTML page, a cut answer) still
 * becomes an error object, so pages never show raw bodies.
 */
export async function api(method, path, { query, body } = {}) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(query || {})) {
        if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
    }
    const init = { method, headers: { Accept: 'application/json' } };
    const token = memberToken();
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
        init.headers['Content-Type'] = 'application/json; charset=utf-8';
        init.body = JSON.stringify(body);
    }
    let resp;
    try {
        resp = await fetch(url, init);
    } catch (e) {
        return { ok: false, status: 0, error: { errorType: 'NETWORK', errorMessage: String(e.message || e) } };
    }
    let json = null;
    try {
        json = JSON.parse(await resp.text());
    } catch (e) {
        json = null;
    }
    if (resp.ok && json && typeof json === 'object' && 'data' in json) {
        return { ok: true, status: resp.status, data: json.data };
    }
    if (json && typeof json === 'object' && typeof json.errorType === 'string') {
        return { ok: false, status: resp.status, error: json };
    }
    return {
        ok: false,
        status: resp.status,
        error: { errorType: resp.status >= 500 ? 'SERVICE_UNAVAILABLE' : 'UNKNOWN_ERROR',
                 errorMessage: `HTTP ${resp.status} ${resp.statusText || ''}`.trim() },
    };
}

/** The front end's configuration (written by scripts/run, served at /config.json;
 *  a plain JSON file, not an envelope). Rejects with an error object. */
let configPromise = null;
export function loadConfig() {
    if (!configPromise) {
        configPromise = fetch('/config.json', { cache: 'no-store' }).then(async (r) => {
            const j = await r.json().catch(() => null);
            if (r.ok && j && j.gatewayBase) return j;
            throw (j && j.errorType ? j : { errorType: 'UNKNOWN_ERROR',
                                            errorMessage: `front end configuration: HTTP ${r.status}` });
        }, (e) => {
            throw { errorType: 'NETWORK', errorMessage: String(e.message || e) };
        });
    }
    return configPromise;
}

/** Creates an element: el('a', {href: '/x', class: 'button'}, 'text', child...). */
export function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
        if (c === undefined || c === null || c === false) continue;
        node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
}

/** Renders an API error into container as a readable alert (role=alert). */
export function showError(container, error, headline) {
    const e = error || {};
    const title = headline || ERROR_TITLES[e.errorType] || ERROR_TITLES.UNKNOWN_ERROR;
    const box = el('div', { class: 'alert error', role: 'alert', 'data-error-type': e.errorType || '' },
        el('p', { class: 'title' }, title),
        e.errorMessage ? el('p', { class: 'message' }, e.errorMessage) : null,
        e.pgMessage ? el('p', { class: 'pg' }, `결제사 메시지: ${e.pgMessage}`) : null,
        e.pgCode ? el('p', { class: 'meta' }, `결제사 코드: ${e.pgCode}`) : null,
        e.requestId ? el('p', { class: 'meta' }, `요청 ID: ${e.requestId}`) : null,
        // a missing, expired or refused token: offer the sign-in
        e.errorType === 'UNAUTHORIZED' && window.location.pathname !== '/me.html'
            ? el('p', {}, el('a', { class: 'signin-link', href: '/me.html' }, '로그인하기')) : null);
    container.replaceChildren(box);
    return box;
}

/** A status line (role=status) in container: kind is ok | wait | error. */
export function showStatus(container, kind, title, ...lines) {
    const box = el('div', { class: `alert ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
        el('p', { class: 'title' }, title), ...lines.filter(Boolean).map((l) => el('p', {}, l)));
    container.replaceChildren(box);
    return box;
}

export const won = (n) => `${Number(n).toLocaleString('ko-KR')}원`;
export const points = (n) => `${Number(n).toLocaleString('ko-KR')} P`;
export const count = (n) => Number(n).toLocaleString('ko-KR');

/** The page's query parameters as an object. */
export function params() {
    return Object.fromEntries(new URLSearchParams(window.location.search));
}

/** A positive integer id from a string, or null. */
export function positiveId(s) {
    return /^[1-9][0-9]{0,17}$/.test(String(s || '')) ? String(s) : null;
}

export const PAYMENT_STATUS = {
    READY: '결제 대기',
    IN_PROGRESS: '승인 중',
    DONE: '완료',
    ABORTED: '실패·취소',
    EXPIRED: '만료',
    UNKNOWN: '결과 확인 중',
};

export function statusBadge(status) {
    return el('span', { class: `badge ${status}`, 'data-status': status },
        `${PAYMENT_STATUS[status] || status} (${status})`);
}

/** Page buttons: first, previous, a window of numbers, next. onGo(page) is called on click. */
export function pager({ page, totalPages, hasNext, onGo, onNext, label }) {
    const nav = el('nav', { class: 'pager', 'aria-label': label || '페이지' });
    const btn = (text, target, attrs = {}) => el('button', {
        type: 'button', ...attrs, onclick: () => (target === 'next' ? onNext() : onGo(target)),
    }, text);
    nav.append(btn('« 처음', 0, { disabled: page === 0, 'aria-label': '첫 페이지' }));
    nav.append(btn('‹ 이전', page - 1, { disabled: page === 0, 'aria-label': '이전 페이지' }));
    const last = Math.max(totalPages - 1, 0);
    const from = Math.max(0, Math.min(page - 2, last - 4));
    const to = Math.min(last, from + 4);
    for (let p = from; p <= to && totalPages > 0; p++) {
        nav.append(btn(String(p + 1), p, { 'aria-current': p === page ? 'page' : false,
                                             'aria-label': `${p + 1} 페이지` }));
    }
    nav.append(btn('다음 ›', onNext ? 'next' : page + 1, { disabled: !hasNext, 'aria-label': '다음 페이지' }));
    nav.append(el('span', { class: 'summary' },
        totalPages > 0 ? `${count(page + 1)} / ${count(totalPages)} 페이지` : '내용 없음'));
    return nav;
}
