// pay-success.js: the successUrl page. The gateway redirected the buyer here
// with paymentKey, orderId and amount; this page confirms through
// POST /api/v1/payments/success/toss (API.md rules 1-7) and shows the
// outcome. When the answer is "not known yet" (502/504: the gateway's answer
// was lost and the payment is UNKNOWN; 409: a confirmation in flight; 503:
// approved but not recorded yet, or the gateway breaker is open) it polls
// GET /api/v1/payments/{orderId} until the payment is final, and now and
// then repeats the confirmation with the same paymentKey (the API reuses
// the attempt's Idempotency-Key, so the gateway replays its first answer
// and nothing is approved twice), as docs/payments.md describes.
import { api, el, params, PAYMENT_STATUS, points, showError, showStatus, statusBadge, won } from './common.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 1500;
const POLL_FOR_MS = 60000;
const FINAL = ['DONE', 'ABORTED', 'EXPIRED'];
// polls (1.5 s apart) at which an unsettled payment is confirmed again
const RETRY_AT = new Set([2, 6, 14, 30]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function showPayment(p, balance) {
    $('status').replaceChildren(statusBadge(p.status));
    $('order-id').textContent = p.orderId;
    $('amount').textContent = won(p.amount);
    $('method').textContent = p.method || '—';
    $('approved-at').textContent = p.approvedAt || '—';
    $('balance').textContent = balance === undefined || balance === null ? '—' : points(balance);
    $('result').classList.remove('hidden');
}

async function linkToPoints(orderId) {
    const r = await api('GET', `/api/v1/payments/${encodeURIComponent(orderId)}`);
    if (r.ok) {
        $('points-link').href = `/points.html?userId=${r.data.userId}`;
        $('points-link').classList.remove('hidden');
        return r.data;
    }
    return null;
}

async function balanceOf(userId) {
    const r = await api('GET', `/api/v1/users/${userId}/points`);
    return r.ok ? r.data.point : null;
}

function confirm(q) {
    return api('POST', '/api/v1/payments/success/toss', {
        query: { paymentKey: q.paymentKey, orderId: q.orderId, amount: q.amount },
    });
}

function showDone(d) {
    showStatus($('message'), 'ok', '충전이 완료되었습니다', `${won(d.amount)}이 포인트로 충전되었습니다.`);
    showPayment(d, d.pointBalance);
}

/** Polls the payment until it is final or the time is up; repeats the
 *  confirmation at a few of the polls while it is UNKNOWN (or not moving).
 *  Resolves to {done} (a success answer) or {payment} (the last state seen). */
async function poll(q) {
    const until = Date.now() + POLL_FOR_MS;
    let last = null;
    for (let i = 1; Date.now() < until; i++) {
        await sleep(POLL_MS);
        const r = await api('GET', `/api/v1/payments/${encodeURIComponent(q.orderId)}`);
        if (!r.ok) continue;
        last = r.data;
        if (FINAL.includes(last.status)) return { payment: last };
        if (RETRY_AT.has(i) && (last.status === 'UNKNOWN' || last.status === 'IN_PROGRESS'
                                || last.status === 'READY')) {
            const c = await confirm(q);
            if (c.ok) return { done: c.data };
        }
        showStatus($('message'), 'wait', '결제 결과를 확인하는 중입니다…',
            `결제사 응답을 기다리고 있습니다 (${i}번째 확인, 현재 상태: ${PAYMENT_STATUS[last.status] || last.status}).`);
    }
    return { payment: last };
}

async function settle(q) {
    const { done, payment: p } = await poll(q);
    if (done) {
        showDone(done);
    } else if (p && p.status === 'DONE') {
        const bal = await balanceOf(p.userId);
        showStatus($('message'), 'ok', '충전이 완료되었습니다', `${won(p.amount)}이 포인트로 충전되었습니다.`);
        showPayment(p, bal);
    } else if (p && FINAL.includes(p.status)) {
        showStatus($('message'), 'error', '결제가 완료되지 않았습니다',
            p.failMessage ? `사유: ${p.failMessage}` : null, p.failCode ? `코드: ${p.failCode}` : null);
        showPayment(p, await balanceOf(p.userId));
    } else {
        showStatus($('message'), 'wait', '아직 결제 결과를 확인하지 못했습니다',
            '결제사 응답이 늦어지고 있습니다. 확인되는 대로 반영되며, 잠시 후 포인트 내역에서 확인해 주세요.',
            `주문번호 ${q.orderId}`);
        if (p) showPayment(p, await balanceOf(p.userId));
    }
    await linkToPoints(q.orderId);
}

async function main() {
    const q = params();
    if (!q.paymentKey || !q.orderId || !q.amount) {
        showError($('message'), { errorType: 'INVALID_PARAMETER',
            errorMessage: '결제사에서 돌아온 주소에 paymentKey, orderId, amount가 없습니다.' });
        return;
    }
    const r = await confirm(q);
    if (r.ok) {
        showDone(r.data);
        await linkToPoints(q.orderId);
        return;
    }
    const e = r.error;
    const inFlight = r.status === 409 && /in progress/.test(e.errorMessage || '');
    if (r.status === 502 || r.status === 504 || r.status === 503 || inFlight) {
        // the outcome is not known yet: the API settles it; watch the payment
        showStatus($('message'), 'wait', '결제 결과를 확인하는 중입니다…',
            '결제사 응답이 지연되어 결과를 다시 확인하고 있습니다.');
        await settle(q);
        return;
    }
    showError($('message'), e, '결제가 완료되지 않았습니다');
    const p = await linkToPoints(q.orderId);
    if (p) {
        $('message').firstChild.append(el('p', {}, '결제 상태: ', statusBadge(p.status)));
        showPayment(p, await balanceOf(p.userId));
    }
}

main();
