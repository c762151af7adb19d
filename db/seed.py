#!/usr/bin/env python3
"""seed.py: demo data with realistic Korean names, loaded with COPY.

Users and profiles (one profile per user by default) are generated here and
streamed into PostgreSQL with COPY; the view log is generated inside
PostgreSQL (generate_series) and profiles.view_count is set from it, so the
demo data keeps the invariant view_count = number of logged views.

    db/seed.py [--database-url URL] [--profiles N] [--users N] [--views N]
               [--seed S] [--reset]

Without --reset it does nothing when users already exist. Names: surnames
follow their real frequency; given names come from common two-syllable names;
about 2% of members use a Latin nickname and 0.5% one that starts with a digit,
so the name order's treatment of Latin letters and digits shows up in the data.
Standard library only (Debian's python3); psql does the loading.
"""
import argparse
import os
import random
import subprocess
import sys
import time

SURNAMES = [
    ("김", 215), ("이", 147), ("박", 84), ("최", 47), ("정", 43), ("강", 24), ("조", 21),
    ("윤", 21), ("장", 20), ("임", 17), ("한", 15), ("오", 15), ("서", 15), ("신", 14),
    ("권", 14), ("황", 14), ("안", 13), ("송", 13), ("류", 12), ("전", 11), ("홍", 11),
    ("고", 9), ("문", 9), ("양", 9), ("손", 9), ("배", 8), ("백", 8), ("허", 6), ("유", 6),
    ("남", 6), ("심", 5), ("노", 5), ("하", 4), ("곽", 4), ("성", 4), ("차", 4), ("주", 4),
    ("우", 4), ("구", 4), ("민", 3), ("진", 3), ("나", 3), ("지", 3), ("엄", 3), ("채", 3),
    ("원", 3), ("천", 2), ("방", 2), ("공", 2), ("현", 2), ("함", 2), ("변", 2), ("염", 2),
    ("여", 2), ("추", 2), ("도", 2), ("소", 1), ("석", 1), ("선", 1), ("설", 1), ("마", 1),
    ("길", 1), ("연", 1), ("위", 1), ("표", 1), ("명", 1), ("기", 1), ("반", 1), ("왕", 1),
    ("금", 1), ("제갈", 1), ("남궁", 1), ("선우", 1), ("황보", 1), ("독고", 1),
]

GIVEN = (
    "민준 서준 도윤 예준 시우 하준 주원 지호 지후 준우 준서 건우 도현 현우 지훈 우진 선우 서진 "
    "민재 현준 연우 유준 정우 승우 승현 시윤 준혁 은우 지환 승민 지우 유찬 윤우 민성 준영 시후 "
    "진우 지원 수호 재윤 시현 동현 태윤 민규 재원 한결 민우 재민 은찬 윤호 서연 서윤 지우 서현 "
    "민서 하은 하윤 윤서 지유 지민 채원 지윤 은서 수아 다은 예은 지아 수빈 소율 예린 예원 지원 "
    "소윤 지안 하린 시은 유진 채은 가은 윤아 민지 유나 예나 수민 서아 다인 예서 하연 나연 "
    "현서 지현 아린 수연 서영 은비 혜원 정민 영수 영호 영희 순자 미경 미영 정희 은정 현주 "
    "성민 성호 상훈 동욱 종현 경민 혜진 지혜 수정 은영 미숙 경희 명숙 정숙 상철 광수 철수"
).split()

LATIN = ["Alex", "Brian", "Chris", "Daniel", "Emma", "Grace", "Hannah", "Jason", "Kevin",
         "Lucy", "Mia", "Olivia", "Paul", "Ryan", "Sophie", "Tom", "anna", "ben", "zoe",
         "Kim Minji", "Lee Jiwoo", "Park Seojun"]
DIGIT = ["1004", "2NE1", "7번방", "24시", "3월의 봄", "0to100", "5678"]


def names(rng, n):
    sur, weights = zip(*SURNAMES)
    surs = rng.choices(sur, weights=weights, k=n)
    givens = rng.choices(GIVEN, k=n)
    out = []
    for i in range(n):
        x = rng.random()
        if x < 0.005:
            out.append(rng.choice(DIGIT))
        elif x < 0.025:
            out.append(rng.choice(LATIN))
        else:
            out.append(surs[i] + givens[i])
    return out


# Bulk-load settings for this session only.
PGOPTS = "-c maintenance_work_mem=512MB -c synchronous_commit=off -c work_mem=64MB"


def _env():
    return dict(os.environ, PGOPTIONS=PGOPTS)


def psql(url, sql, stdin=None):
    return subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          input=stdin, check=True, capture_output=True, env=_env())


def scalar(url, sql):
    r = subprocess.run(["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       check=True, capture_output=True, text=True)
    return r.stdout.strip()


def copy_rows(url, table, cols, rows):
    """Streams rows (already tab-separated text lines) into COPY."""
    p = subprocess.Popen(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                          f"COPY {table} ({cols}) FROM STDIN"], stdin=subprocess.PIPE, env=_env())
    chunk = []
    for line in rows:
        chunk.append(line)
        if len(chunk) >= 20000:
            p.stdin.write(("".join(chunk)).encode())
            chunk.clear()
    if chunk:
        p.stdin.write(("".join(chunk)).encode())
    p.stdin.close()
    if p.wait() != 0:
        sys.exit(f"seed: COPY into {table} failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--profiles", type=int, default=10000)
    ap.add_argument("--users", type=int, default=None, help="default: as many as profiles")
    ap.add_argument("--views", type=int, default=None, help="default: 5 per profile")
    ap.add_argument("--seed", type=int, default=20241001)
    ap.add_argument("--reset", action="store_true", help="empty the tables first")
    a = ap.parse_args()
    if not a.database_url:
        sys.exit("seed: --database-url or DATABASE_URL is required")
    users = a.users if a.users is not None else a.profiles
    views = a.views if a.views is not None else 5 * a.profiles
    if users < 1 or a.profiles < 0 or views < 0:
        sys.exit("seed: counts must be positive")
    url = a.database_url
    t0 = time.time()

    if a.reset:
        psql(url, "TRUNCATE profile_views, profiles, point_ledger, payments, users RESTART IDENTITY")
    elif scalar(url, "SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1) u") != "0":
        print("seed: users exist, nothing to do (use --reset to reload)")
        return

    # Secondary indexes are dropped for the load and rebuilt after it: one
    # sort per index instead of a million insertions (whatever indexes the
    # migrations defined; their definitions are read from the catalog).
    indexes = [row.split("|", 1) for row in scalar(url, """
        SELECT string_agg(i.indexrelid::regclass || '|' || pg_get_indexdef(i.indexrelid), E'\\n')
          FROM pg_index i
         WHERE i.indrelid IN ('users'::regclass, 'profiles'::regclass)
           AND NOT i.indisprimary AND NOT i.indisunique
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""").splitlines() if row]
    for name, _ in indexes:
        psql(url, f"DROP INDEX {name}")
    phase = time.time()

    def step(what):
        nonlocal phase
        now_ = time.time()
        print(f"seed: {what} in {now_ - phase:.1f}s", flush=True)
        phase = now_

    try:
        rng = random.Random(a.seed)
        now = int(time.time())
        start = now - 2 * 365 * 86400
        unames = names(rng, users)

        def ts(sec):
            return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(sec))

        # Member ids are in creation order, like a real sign-up sequence.
        created = sorted(rng.randrange(start, now) for _ in range(users))
        copy_rows(url, "users", "id, name, point, created_at, updated_at",
                  (f"{i + 1}\t{unames[i]}\t0\t{ts(created[i])}\t{ts(created[i])}\n"
                   for i in range(users)))
        step(f"{users} users")

        # One profile per member first, then extra profiles for random members.
        owners = list(range(1, min(users, a.profiles) + 1))
        owners += [rng.randrange(1, users + 1) for _ in range(a.profiles - len(owners))]
        pcreated = []
        for uid in owners:
            pcreated.append(max(created[uid - 1], rng.randrange(created[uid - 1], now + 1)))
        order = sorted(range(a.profiles), key=lambda k: pcreated[k])
        copy_rows(url, "profiles", "id, name, user_id, view_count, created_at, updated_at",
                  (f"{n + 1}\t{unames[owners[k] - 1]}\t{owners[k]}\t0\t{ts(pcreated[k])}\t{ts(pcreated[k])}\n"
                   for n, k in enumerate(order)))

        step(f"{a.profiles} profiles")
        for t in ("users", "profiles"):
            psql(url, f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))")

        if views and a.profiles:
            # Skewed popularity: a few profiles get most views. Viewers are members
            # (70%) or anonymous; times within the last 90 days.
            psql(url, f"""
                SELECT setseed({(a.seed % 1000) / 1000.0});
                INSERT INTO profile_views (profile_id, viewer_id, viewed_at)
                SELECT 1 + floor(power(random(), 4) * {a.profiles})::bigint,
                       CASE WHEN random() < 0.7 THEN 1 + floor(random() * {users})::bigint END,
                       now() - random() * interval '90 days'
                  FROM generate_series(1, {views});
                UPDATE profiles p SET view_count = v.c, anonymous_views = v.a
                  FROM (SELECT profile_id, count(*) AS c,
                               count(*) FILTER (WHERE viewer_id IS NULL) AS a
                          FROM profile_views GROUP BY 1) v
                 WHERE v.profile_id = p.id;""")
            step(f"{views} views and view counts")
    finally:
        for _, definition in indexes:
            psql(url, definition)
    step(f"{len(indexes)} indexes rebuilt")
    psql(url, "ANALYZE users; ANALYZE profiles; ANALYZE profile_views;")
    print(f"seed: {users} users, {a.profiles} profiles, {views} views in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
