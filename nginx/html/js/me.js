// me.js: the signed-in member's page (me.html). GET /api/v1/me names the
// member and their points and profile; PUT /api/v1/me/profile creates or
// renames the profile (the API's 400 message shown as is); GET
// /api/v1/me/profile-views lists who viewed it, newest first, "더 보기"
// following nextCursor, anonymous views as a count. My payments: the API has
// no list of a member's payments yet (GET /api/v1/payments is in the contract
// but not served), so the page reads GET /api/v1/payments/{orderId} for the
// orders in the member's point ledger and those this browser started.
// Signed out, or with a token the API refuses (401), it offers the sign-in:
// the local stack's demo members or a pasted member JWT.
import { api, count, el, memberToken, points, recentOrders, showDemoMembers, showError, showStatus, signIn,
    signOut, statusBadge, tokenUserId, won } from './common.js';

const $ = (id) => document.getElementById(id);
const VIEWS_PAGE = 10;
const PAYMENTS_SHOWN = 20;

function offerSignIn() {
    $('signin-card').classList.remove('hidden');
    for (const id of ['me-card', 'profile-card', 'views-section', 'payments-section']) $(id).classList.add('hidden');
    showDemoMembers($('demo-members'), () => window.location.assign('/me.html'));
}

function showProfile(profile) {
    const has = !!profile;
    $('no-profile').classList.toggle('hidden', has);
    $('profile-facts').classList.toggle('hidden', !has);
    $('profile-link').classList.toggle('hidden', !has);
    $('profile-save').textContent = has ? '이름 바꾸기' : '프로필 만들기';
    if (!has) return;
    $('profile-name').textContent = profile.name;
    $('profile-id').textContent = profile.id;
    $('profile-views').textContent = `${count(profile.viewCount)}회`;
    $('profile-views').dataset.count = profile.viewCount;
    $('profile-created').textContent = profile.createdAt;
    $('profile-link').href = `/profile.html?id=${profile.id}`;
    if (!$('profile-name-input').value) $('profile-name-input').value = profile.name;
}

async function saveProfile(event) {
    event.preventDefault();
    const button = $('profile-save');
    button.disabled = true;
    try {
        // sent as typed: the API trims and validates (1..50 characters, no
        // control characters) and its 400 message is what the member reads
        const r = await api('PUT', '/api/v1/me/profile', { body: { name: $('profile-name-input').value } });
        if (!r.ok) {
            showError($('profile-message'), r.error,
                r.status === 400 ? '이름을 저장하지 못했습니다' : undefined);
            if (r.status === 401) {
                signOut();
                offerSignIn();
            }
            return;
        }
        $('profile-name-input').value = r.data.name;
        showProfile(r.data);
        showStatus($('profile-message'), 'ok', r.status === 201 ? '프로필을 만들었습니다' : '이름을 바꿨습니다',
            `새 이름: ${r.data.name}`);
        $('views-section').classList.remove('hidden');
        if (r.status === 201) loadViews(null);
    } finally {
        button.disabled = false;
    }
}

let viewsCursor = null;

async function loadViews(cursor) {
    $('views').setAttribute('aria-busy', 'true');
    const r = await api('GET', '/api/v1/me/profile-views', { query: { size: VIEWS_PAGE, cursor } });
    $('views').setAttribute('aria-busy', 'false');
    $('views-section').classList.remove('hidden');
    if (!r.ok) {
        showError($('views-message'), r.error, '조회 기록을 불러오지 못했습니다');
        return;
    }
    $('views-message').replaceChildren();
    const d = r.data;
    const rows = d.contents.map((v) => el('tr', { 'data-viewer-id': v.viewerId },
        el('td', {}, v.viewedAt),
        el('td', {}, v.viewerProfileId ? el('a', { href: `/profile.html?id=${v.viewerProfileId}` }, v.viewerName)
            : v.viewerName),
        el('td', { class: 'num' }, v.viewerId)));
    if (cursor) $('views-rows').append(...rows);
    else $('views-rows').replaceChildren(...rows);
    const shown = $('views-rows').children.length;
    $('views-caption').textContent = shown > 0 ? `최근 조회부터 ${count(shown)}건 표시` : '아직 내 프로필을 본 회원이 없습니다';
    $('views-summary').textContent = `로그인하지 않은 방문자의 조회 ${count(d.anonymousViews)}회 (목록에는 나오지 않습니다)`;
    $('views-summary').dataset.anonymous = d.anonymousViews;
    viewsCursor = d.hasNext ? d.nextCursor : null;
    $('views-more').classList.toggle('hidden', !viewsCursor);
}

async function loadPayments(userId) {
    $('payments-section').classList.remove('hidden');
    $('payments').setAttribute('aria-busy', 'true');
    const orders = [...recentOrders(userId)];
    const h = await api('GET', `/api/v1/users/${userId}/points/history`, { query: { page: 0, size: 100 } });
    if (h.ok) {
        for (const e of h.data.contents) if (e.paymentOrderId && !orders.includes(e.paymentOrderId)) orders.push(e.paymentOrderId);
    } else {
        showError($('payments-message'), h.error, '포인트 내역을 불러오지 못했습니다');
    }
    const answers = await Promise.all(orders.slice(0, 2 * PAYMENTS_SHOWN)
        .map((o) => api('GET', `/api/v1/payments/${encodeURIComponent(o)}`)));
    // a remembered order that another member owns (a shared browser) or that
    // no longer exists is simply not mine: left out
    const mine = answers.filter((a) => a.ok).map((a) => a.data)
        .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
        .slice(0, PAYMENTS_SHOWN);
    $('payments').setAttribute('aria-busy', 'false');
    $('payments-caption').textContent = mine.length > 0 ? `최근 결제 ${count(mine.length)}건` : '결제 내역이 없습니다';
    $('payments-rows').replaceChildren(...mine.map((p) => el('tr', { 'data-order-id': p.orderId },
        el('td', {}, p.createdAt),
        el('td', {}, p.orderId),
        el('td', { class: 'num' }, won(p.amount)),
        el('td', {}, statusBadge(p.status)))));
}

async function main() {
    $('signin').addEventListener('submit', (e) => {
        e.preventDefault();
        if (!signIn($('token').value)) {
            showError($('signin-message'), { errorType: 'INVALID_PARAMETER', errorMessage: '회원 토큰(JWT) 형식이 아닙니다.' });
            return;
        }
        window.location.assign('/me.html');
    });
    $('signout').addEventListener('click', () => {
        signOut();
        window.location.assign('/me.html');
    });
    $('profile-form').addEventListener('submit', saveProfile);
    $('views-more').addEventListener('click', () => loadViews(viewsCursor));

    if (!tokenUserId(memberToken())) {
        signOut();
        offerSignIn();
        return;
    }
    const r = await api('GET', '/api/v1/me');
    if (!r.ok) {
        if (r.status === 401) {
            // expired, forged or for another issuer: forget it and ask again
            signOut();
            showError($('message'), r.error, '로그인이 필요합니다 (회원 토큰이 만료되었거나 올바르지 않습니다)');
            offerSignIn();
        } else {
            showError($('message'), r.error, r.status === 404 ? '회원을 찾을 수 없습니다' : '내 정보를 불러오지 못했습니다');
            $('me-card').classList.remove('hidden');
        }
        return;
    }
    const me = r.data;
    document.title = `${me.name} · 내 정보 · memberapi`;
    $('me-name').textContent = me.name;
    $('me-id').textContent = me.userId;
    $('me-point').textContent = points(me.point);
    $('me-point').dataset.point = me.point;
    $('me-points-link').href = `/points.html?userId=${me.userId}`;
    $('me-card').classList.remove('hidden');
    $('profile-card').classList.remove('hidden');
    showProfile(me.profile);
    if (me.profile) loadViews(null);
    loadPayments(me.userId);
}

main();
