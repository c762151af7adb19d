// pay-fail.js: the failUrl page. The gateway sent code, message and maybe
// orderId; GET /api/v1/payments/fail/toss records it (a READY payment becomes
// ABORTED) and always answers 400 EXTERNAL_API_ERROR with pgCode/pgMessage,
// which this page shows as a message, with the payment's state.
import { api, params, showError, showStatus, statusBadge, won } from './common.js';

const $ = (id) => document.getElementById(id);

async function main() {
    const q = params();
    const r = await api('GET', '/api/v1/payments/fail/toss', {
        query: { code: q.code, message: q.message, orderId: q.orderId },
    });
    const e = r.error || {};
    if (e.errorType === 'EXTERNAL_API_ERROR' && e.data) {
        const cancelled = e.pgCode === 'PAY_PROCESS_CANCELED';
        showStatus($('message'), 'error', cancelled ? '결제가 취소되었습니다' : '결제가 완료되지 않았습니다',
            e.pgMessage ? `사유: ${e.pgMessage}` : null, `코드: ${e.pgCode}`);
    } else {
        showError($('message'), e, '결제 실패를 기록하지 못했습니다');
    }
    if (!q.orderId) return;
    const p = await api('GET', `/api/v1/payments/${encodeURIComponent(q.orderId)}`);
    if (p.ok) {
        $('status').replaceChildren(statusBadge(p.data.status));
        $('order-id').textContent = p.data.orderId;
        $('amount').textContent = won(p.data.amount);
        $('result').classList.remove('hidden');
        $('points-link').href = `/points.html?userId=${p.data.userId}`;
        $('points-link').classList.remove('hidden');
    }
}

main();
