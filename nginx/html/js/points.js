// points.js: a member's balance, point history (offset pages of 10) and the
// top-up: POST /api/v1/payments creates a READY payment, then the browser
// goes to the gateway's checkout page (the sandbox's /sim/checkout, from
// /config.json) with successUrl/failUrl pointing back at pay-success.html
// and pay-fail.html, which confirm or record the failure through the API.
import { api, count, el, loadConfig, memberToken, pager, params, points, positiveId, rememberOrder, showDemoMembers,
    showError, showStatus, signIn, signOut, tokenUserId } from './common.js';

const $ = (id) => document.getElementById(id);
const HISTORY_SIZE = 10;

function newOrderId() {
    const rand = Array.from(crypto.getRandomValues(new Uint8Array(5)), (b) => b.toString(16).padStart(2, '0')).join('');
    return `web_${Date.now().toString(36)}_${rand}`;
}

/** The headline of a refused request: 401 asks to sign in, 403 says whose it is. */
function refusal(r, fallback) {
    if (r.status === 401) return '로그인이 필요합니다 (회원 토큰이 없거나 만료되었습니다)';
    if (r.status === 403) return '다른 회원의 포인트는 볼 수 없습니다';
    if (r.status === 404) return '회원을 찾을 수 없습니다';
    return fallback;
}

function showSignedIn() {
    const me = tokenUserId(memberToken());
    $('signed-in').classList.toggle('hidden', !me);
    $('signin').classList.toggle('hidden', !!me);
    $('signed-in-id').textContent = me || '';
    return me;
}

async function loadBalance(userId) {
    const r = await api('GET', `/api/v1/users/${userId}/points`);
    if (!r.ok) {
        showError($('message'), r.error, refusal(r, '잔액을 불러오지 못했습니다'));
        return false;
    }
    $('who-id').textContent = r.data.userId;
    $('balance').textContent = points(r.data.point);
    $('balance').dataset.point = r.data.point;
    $('balance-card').classList.remove('hidden');
    $('topup-card').classList.remove('hidden');
    return true;
}

async function loadHistory(userId, page) {
    $('history').setAttribute('aria-busy', 'true');
    const r = await api('GET', `/api/v1/users/${userId}/points/history`, { query: { page, size: HISTORY_SIZE } });
    $('history').setAttribute('aria-busy', 'false');
    $('history-section').classList.remove('hidden');
    if (!r.ok) {
        showError($('message'), r.error, '포인트 내역을 불러오지 못했습니다');
        return;
    }
    const d = r.data;
    $('history-caption').textContent = d.totalElements > 0 ? `전체 ${count(d.totalElements)}건, 최근 내역부터` : '내역이 없습니다';
    $('history-rows').replaceChildren(...d.contents.map((h) => el('tr', { 'data-ledger-id': h.id },
        el('td', {}, h.createdAt),
        el('td', {}, h.paymentOrderId ? `충전 (${h.reason})` : h.reason),
        el('td', { class: `num ${h.delta >= 0 ? 'plus' : 'minus'}` }, `${h.delta >= 0 ? '+' : ''}${count(h.delta)}`),
        el('td', {}, h.paymentOrderId || '—'))));
    if (d.totalElements === 0) {
        $('history-pager').replaceChildren();
        return;
    }
    $('history-pager').replaceChildren(pager({
        page: d.page,
        totalPages: d.totalPages,
        hasNext: d.hasNext,
        label: '포인트 내역 페이지',
        onGo: (p) => { setQuery(userId, p); loadHistory(userId, p); },
    }));
}

function setQuery(userId, page) {
    const q = new URLSearchParams({ userId });
    if (page) q.set('page', String(page));
    window.history.replaceState(null, '', `${window.location.pathname}?${q}`);
}

async function topUp(userId, event) {
    event.preventDefault();
    const choice = new FormData($('topup')).get('amount');
    const amountText = choice === 'custom' ? $('custom-amount').value.trim() : choice;
    const button = $('topup-button');
    button.disabled = true;
    try {
        let config;
        try {
            config = await loadConfig();
        } catch (e) {
            showError($('topup-message'), e, '결제 설정을 불러오지 못했습니다');
            return;
        }
        const orderId = newOrderId();
        // The amount goes to the API as typed (when it is a number): the
        // API's own rules (1..10,000,000) answer a bad one with a message.
        const amount = /^-?[0-9]{1,16}$/.test(amountText) ? Number(amountText) : amountText;
        const r = await api('POST', '/api/v1/payments', {
            body: { orderId, userId: Number(userId), amount, payGateway: 'TOSS', payType: 'CARD' },
        });
        if (!r.ok) {
            showError($('topup-message'), r.error, '충전을 시작하지 못했습니다');
            return;
        }
        rememberOrder(r.data.userId, orderId);
        showStatus($('topup-message'), 'wait', '결제 창으로 이동합니다…', `주문번호 ${orderId}`);
        const origin = window.location.origin;
        const q = new URLSearchParams({
            orderId,
            amount: String(r.data.amount),
            orderName: '포인트 충전',
            successUrl: `${origin}/pay-success.html`,
            failUrl: `${origin}/pay-fail.html`,
        });
        window.location.assign(`${config.gatewayBase}${config.checkoutPath}?${q}`);
    } finally {
        button.disabled = false;
    }
}

async function main() {
    const p = params();
    const me = showSignedIn();
    $('signin').addEventListener('submit', (e) => {
        e.preventDefault();
        const id = signIn($('token').value);
        if (!id) {
            showError($('signin-message'), { errorType: 'INVALID_PARAMETER', errorMessage: '회원 토큰(JWT) 형식이 아닙니다.' });
            return;
        }
        window.location.assign(`/points.html?userId=${id}`);
    });
    if (!me) showDemoMembers($('demo-members'), (id) => window.location.assign(`/points.html?userId=${id}`));
    $('signout').addEventListener('click', () => {
        signOut();
        window.location.assign('/points.html');
    });
    // signed in and no member asked for: my own points
    if (p.userId === undefined && me) p.userId = me;
    const userId = positiveId(p.userId);
    $('who').addEventListener('submit', (e) => {
        e.preventDefault();
        const v = $('user-id').value.trim();
        window.location.assign(`/points.html?userId=${encodeURIComponent(v)}`);
    });
    $('custom-amount').addEventListener('focus', () => {
        document.querySelector('input[name="amount"][value="custom"]').checked = true;
    });
    if (p.userId === undefined) {
        $('user-id').focus();
        return;
    }
    $('user-id').value = p.userId;
    if (!userId) {
        showError($('message'), { errorType: 'INVALID_PARAMETER', errorMessage: '회원 ID는 1 이상의 정수입니다.' });
        return;
    }
    $('topup').addEventListener('submit', (e) => topUp(userId, e));
    if (await loadBalance(userId)) {
        await loadHistory(userId, /^[0-9]{1,6}$/.test(p.page || '') ? Number(p.page) : 0);
    }
}

main();
