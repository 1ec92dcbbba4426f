"""The nine-signal ranking in DuckDB over a feature table precomputed as
Agency Center's index is: discoverable creators only, categories and
languages as bitmasks, static signals pre-normalised with the same
formulas; members, pending invitations and cooldowns anti-joined.
Prints the median of 5 timed runs, in ms.

    python duckdb_rank.py /tmp/rank_1m.db <agency uuid>
"""
import csv, math, sqlite3, statistics, sys, tempfile, time, uuid
from datetime import date, datetime, timedelta, timezone

import duckdb

CATEGORIES = "ART BEAUTY COMEDY DANCE EDUCATION FASHION FITNESS FOOD GAMING LIFESTYLE MUSIC SHOPPING SPORTS TECH TRAVEL".split()


def blob(u):
    return uuid.UUID(u).bytes


def log_scale(x, full):
    return min(1.0, math.log1p(max(x, 0.0)) / math.log1p(full))


def main(path, agency):
    src = sqlite3.connect(path)
    regions, langs, specs = src.execute(
        "SELECT regions, languages, specialties FROM agencies WHERE id = ?", (blob(agency),)).fetchone()
    lang_ids = {}
    def lang_mask(codes):
        m = 0
        for code in codes:
            m |= 1 << lang_ids.setdefault(code, len(lang_ids))
        return m
    cat_mask = lambda names: sum(1 << CATEGORIES.index(n) for n in names)
    out = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="")
    w = csv.writer(out)
    w.writerow("id region adult_on since cat_mask ncat lang_mask nlang audience live viewers engagement momentum monetization".split())
    for (cid, region, languages, categories, birth, since, followers, avg, hours, days, diamonds, growth, rate) in src.execute(
            "SELECT id, region, languages, categories, birth_date, discoverable_since, followers, avg_viewers, "
            "live_hours_30d, live_days_30d, diamonds_30d, follower_growth_30d, engagement_rate "
            "FROM creators WHERE discoverable = 1"):
        b = date.fromisoformat(birth)
        try:
            adult = b.replace(year=b.year + 18)
        except ValueError:  # 29 February
            adult = b.replace(year=b.year + 18, day=28) + timedelta(days=1)
        ls, cs = languages.split(","), categories.split(",")
        w.writerow([cid.hex(), region, adult.isoformat(), since[:19].replace("T", " "), cat_mask(cs), len(cs),
                    lang_mask(ls), len(ls), log_scale(followers, 1e7),
                    0.6 * days / 30 + 0.4 * min(hours / 120, 1), log_scale(avg, 1e5),
                    min(rate / 0.25, 1), 0.5 + 0.5 * math.tanh(growth / 0.25), log_scale(diamonds, 1e7)])
    out.close()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    members = [(m.hex(),) for (m,) in src.execute("SELECT creator_id FROM memberships")]
    excluded = [(c.hex(),) for (c,) in src.execute(
        "SELECT creator_id FROM invitations WHERE agency_id = ? AND "
        "((status = 'PENDING' AND expires_at > ?) OR (status = 'DECLINED' AND responded_at > ?))",
        (blob(agency), now.isoformat(" "), (now - timedelta(days=30)).isoformat(" ")))]

    db = duckdb.connect()
    db.execute("SET threads = 2")
    db.execute(f"CREATE TABLE features AS SELECT * FROM read_csv('{out.name}', header = true, "
               "columns = {'id': 'VARCHAR', 'region': 'VARCHAR', 'adult_on': 'DATE', 'since': 'TIMESTAMP', "
               "'cat_mask': 'INTEGER', 'ncat': 'INTEGER', 'lang_mask': 'BIGINT', 'nlang': 'INTEGER', "
               "'audience': 'DOUBLE', 'live': 'DOUBLE', 'viewers': 'DOUBLE', 'engagement': 'DOUBLE', "
               "'momentum': 'DOUBLE', 'monetization': 'DOUBLE'})")
    db.execute("CREATE TABLE members (id VARCHAR)")
    db.executemany("INSERT INTO members VALUES (?)", members)
    db.execute("CREATE TABLE excluded (id VARCHAR)")
    if excluded:
        db.executemany("INSERT INTO excluded VALUES (?)", excluded)
    agency_langs = lang_mask(langs.split(","))
    params = [cat_mask(specs.split(",")), len(specs.split(",")), agency_langs, len(langs.split(",")),
              now, now, regions.split(","), now.date()]
    query = """
      SELECT f.id, (
          3.0 * bit_count(f.cat_mask & $1) / least(f.ncat, $2)
        + 2.0 * bit_count(f.lang_mask & $3) / least(f.nlang, $4)
        + 1.5 * f.audience + 2.0 * f.live + 1.5 * f.viewers + 1.0 * f.engagement
        + 1.0 * f.momentum + 1.0 * f.monetization
        + 1.0 * CASE WHEN $5 - f.since > INTERVAL 120 DAY THEN 0
                ELSE pow(2, -floor(epoch($6 - f.since) / 3600) / 72) END
        ) / 14.0 AS score
      FROM features f
      WHERE list_contains($7, f.region) AND f.adult_on <= $8
        AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = f.id)
        AND NOT EXISTS (SELECT 1 FROM excluded e WHERE e.id = f.id)
      ORDER BY score DESC, f.id LIMIT 20"""
    times = []
    for i in range(6):
        t = time.perf_counter()
        rows = db.execute(query, params).fetchall()
        if i:
            times.append((time.perf_counter() - t) * 1000)
    assert len(rows) == 20, rows
    print(f"{statistics.median(times):.1f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
