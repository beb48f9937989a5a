#!/usr/bin/env python3
"""Seeds a hotline database with N cases spread over D days, written straight into the
real schema (run `hotline migrate` first), in one transaction.

    bench/seed_cases.py sqlite PATH          [--cases 100000] [--days 60] [--seed 12]
    bench/seed_cases.py postgres URL         (rows streamed to `psql URL` with COPY)

What it writes, in time order (row ids follow arrival, as the server writes them):

- a department tree: 6 bureaus (一级), 3 units under each (二级), 2 communities under
  every other unit (三级); `housing` (市住建局) gets about a third of the dispatches;
- agents 1002..1040, copies of agent 1001 (which `hotline agent add` must have made);
- per case one inbound call (5 % of cases a second, repeat call), its ACD facts, a
  conversation recording when an agent answered, the survey answer on a third of them;
  the case's audit trail (registered, answered / forwarded / dispatched, accepted,
  replied, revisited, closed…), each event at a plausible time after the call;
- about 8 % calls that asked for nothing (`no_request`), 3 % voicemails (a callback task
  done, one attempt), 55 % answered on the call, 5 % forwarded, the rest dispatched:
  recent dispatches still held (dispatched / accepted / redo) or replied / revisited,
  older ones closed, ~2 % of older ones still held and overdue; ~5 % confidential, plus
  complaints and reports (confidential by default);
- agents' state changes for every answered call and each day's log-in / log-out;
- missed calls (3 % of arrivals), ticket sequences per local day.

Times are UTC RFC 3339 with microseconds (`…T08:00:00.123456+00:00`), as sqlx writes them
to SQLite; local days are Asia/Shanghai (config/ivr.toml).
"""

import argparse
import datetime as dt
import random
import sqlite3
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc

CATEGORIES = [("consult", 45), ("help", 15), ("complaint", 20), ("report", 5),
              ("suggestion", 10), ("praise", 5)]
SUBJECTS = {
    "consult": ["社保卡补办流程", "公积金提取条件", "户口迁移需要哪些材料", "居住证办理", "医保异地备案"],
    "help": ["老人走失求助", "水管爆裂无人处理", "小区停电", "电梯困人后续"],
    "complaint": ["夜间施工噪音扰民", "物业乱收费", "餐馆油烟扰民", "出租车拒载", "商家不退押金"],
    "report": ["违章搭建", "无证经营", "非法占道经营", "垃圾偷倒"],
    "suggestion": ["增设公交站点", "延长图书馆开放时间", "增加路灯"],
    "praise": ["表扬社区工作人员", "表扬公交司机"],
}
PLACES = ["东湖路18号", "解放大道1024号", "中山北路33弄", "滨江花园5栋", "新华街道办", "高新区创业路9号"]
NAMES = ["张先生", "李女士", "王先生", "刘女士", "陈先生", "赵女士", "周先生", "吴女士"]
QUEUES = [("consult", 50), ("complaint", 25), ("enterprise", 10), ("agent", 15)]

# (code, name, parent code, level, share of dispatches)
BUREAUS = [("housing", "市住建局", 34), ("transport", "市交通局", 14), ("market", "市场监管局", 16),
           ("environment", "市生态环境局", 12), ("health", "市卫健委", 10), ("east", "东区人民政府", 14)]


def departments():
    out = []  # (code, name, parent, level, weight)
    for code, name, w in BUREAUS:
        out.append((code, name, None, 1, w * 0.4))
        for i in range(1, 4):
            unit = f"{code}.u{i}"
            out.append((unit, f"{name}第{i}分局", code, 2, w * 0.4 / 3))
            if i % 2 == 1:
                for j in range(1, 3):
                    out.append((f"{unit}.c{j}", f"{name}第{i}分局第{j}社区", unit, 3, w * 0.2 / 4))
    return out


def ts(t):
    """A UTC datetime as sqlx writes it to SQLite."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


def end_of_working_day(t, days):
    """The end (23:59:59 local) of the `days`th working day after t's local day (Mon–Fri;
    0 = that day if a working day), as WorkCalendar::add_working_days."""
    d = t.astimezone(TZ).date()
    if not (days == 0 and d.weekday() < 5):
        d += dt.timedelta(days=1)
        while d.weekday() >= 5:
            d += dt.timedelta(days=1)
    for _ in range(1, days):
        d += dt.timedelta(days=1)
        while d.weekday() >= 5:
            d += dt.timedelta(days=1)
    return dt.datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=TZ).astimezone(UTC)


# Hour-of-day weights (local): quiet at night, peaks mid-morning and mid-afternoon.
HOUR_W = [1, 1, 1, 1, 1, 2, 4, 10, 40, 80, 90, 85, 50, 45, 80, 85, 75, 60, 40, 30, 22, 15, 6, 3]


def arrivals(rng, n, days, now):
    """n arrival instants over the last `days` local days up to now, sorted."""
    today = now.astimezone(TZ).date()
    first = today - dt.timedelta(days=days - 1)
    # Weekdays busier than weekends; today only up to now.
    day_w = []
    for k in range(days):
        d = first + dt.timedelta(days=k)
        w = 1.0 if d.weekday() < 5 else 0.6
        if d == today:
            h = now.astimezone(TZ).hour
            w *= sum(HOUR_W[: h + 1]) / sum(HOUR_W)
        day_w.append((d, w))
    out = []
    while len(out) < n:
        d = weighted(rng, day_w)
        h = weighted(rng, list(enumerate(HOUR_W)))
        local = dt.datetime(d.year, d.month, d.day, h, tzinfo=TZ) + dt.timedelta(
            seconds=rng.uniform(0, 3600))
        t = local.astimezone(UTC)
        if t < now - dt.timedelta(minutes=2):
            out.append(t)
    out.sort()
    return out


def generate(n_cases, days, seed, now):
    rng = random.Random(seed)
    t = {k: [] for k in ["departments", "agents", "cases", "calls", "recordings", "case_events",
                         "agent_events", "missed_calls", "callback_tasks", "callback_attempts",
                         "ticket_sequences"]}
    depts = departments()
    dept_id = {}
    for i, (code, name, parent, level, _) in enumerate(depts, start=1):
        dept_id[code] = i
        t["departments"].append((i, code, name, dept_id.get(parent), level, 1,
                                 ts(now - dt.timedelta(days=days + 30))))
    dept_pick = [(code, w) for code, _, _, _, w in depts]
    extensions = [str(1001 + i) for i in range(40)]
    t["agents"] = extensions[1:]  # copies of 1001
    free_at = {e: now - dt.timedelta(days=days + 1) for e in extensions}
    agent_ev = []  # (at, extension, from, to, reason, sip_call_id, actor)
    # Each agent logs in at 08:00 and out at 22:00 every local day.
    today = now.astimezone(TZ).date()
    for k in range(days):
        d = today - dt.timedelta(days=days - 1 - k)
        on = dt.datetime(d.year, d.month, d.day, 8, tzinfo=TZ).astimezone(UTC)
        off = dt.datetime(d.year, d.month, d.day, 22, tzinfo=TZ).astimezone(UTC)
        for e in extensions:
            agent_ev.append((on + dt.timedelta(seconds=rng.uniform(0, 600)), e, "logged_out", "ready",
                             None, None, "phone"))
            if off < now:
                agent_ev.append((off + dt.timedelta(seconds=rng.uniform(0, 600)), e, "ready",
                                 "logged_out", None, None, "phone"))

    repeat_numbers = [f"13{rng.randrange(100000000, 999999999)}" for _ in range(5000)]
    seq = {}
    case_id = call_id = rec_id = ev_id = task_id = 0
    events = t["case_events"]
    held = overdue = confidential = 0

    def event(cid, at, actor, name, frm, to, note=None):
        events.append((cid, at, actor, name, frm, to, note))

    for arrived in arrivals(rng, n_cases, days, now):
        case_id += 1
        call_id += 1
        local_day = arrived.astimezone(TZ).strftime("%Y%m%d")
        seq[local_day] = seq.get(local_day, 0) + 1
        ticket = f"{local_day}{seq[local_day]:05d}"
        answered = arrived + dt.timedelta(milliseconds=250)
        number = rng.choice(repeat_numbers) if rng.random() < 0.3 else \
            f"1{rng.choice('3578')}{rng.randrange(100000000, 999999999)}"
        sip = f"{rng.getrandbits(64):016x}@trunk.example"
        age_days = (now - arrived).total_seconds() / 86400
        r = rng.random()
        kind = ("no_request" if r < 0.08 else "voicemail" if r < 0.11 else "answered" if r < 0.66
                else "forwarded" if r < 0.71 else "dispatched")
        call = dict(queue=None, agent=None, agent_call_id=None, queued_at=None, offered=0, rejected=0,
                    agent_answered=None, agent_ended=None, wrap_end=None, result=None, wait=None,
                    talk=None, wrap=None, satisfaction=None, path="greeting>menu", cause="caller_bye",
                    ended=answered + dt.timedelta(seconds=rng.uniform(5, 40)))
        category = subject = description = name = place = mode = deadline = dept = None
        handling = None
        conf = 0
        urge = redo = 0
        sat = None
        resolved = closed = None
        status = "no_request"
        channel = "phone"
        last = answered  # the time of the case's last change
        ev_start = len(events)

        if kind == "no_request":
            if rng.random() < 0.5:  # hung up while queued
                q = weighted(rng, QUEUES)
                call.update(queue=q, queued_at=answered + dt.timedelta(seconds=12), result="abandoned",
                            wait=int(rng.expovariate(1 / 20000)), path=f"greeting>menu>queue:{q}")
                call["ended"] = call["queued_at"] + dt.timedelta(milliseconds=call["wait"])
            last = call["ended"]
        elif kind == "voicemail":
            channel = "voicemail"
            call.update(path="greeting>closed>voicemail", ended=answered + dt.timedelta(seconds=40))
            event(case_id, ts(call["ended"]), "system", "voicemail", "no_request", "callback_pending")
            status = "callback_pending"
            task_id += 1
            done = call["ended"] + dt.timedelta(hours=rng.uniform(0.5, 12))
            if done < now:
                t["callback_tasks"].append((task_id, case_id, number, "voicemail", 0, ts(arrived),
                                            ts(call["ended"]), "done", 1, 3, ts(done), "reached",
                                            "1001", ts(call["ended"]), ts(done), "agent"))
                t["callback_attempts"].append((task_id, ts(done), "reached", "1001"))
                event(case_id, ts(done), "1001", "called_back", "callback_pending", "answered")
                status, handling, category = "answered", "answered", "consult"
                subject = rng.choice(SUBJECTS["consult"])
                last = done
            else:
                t["callback_tasks"].append((task_id, case_id, number, "voicemail", 0, ts(arrived),
                                            ts(call["ended"]), "pending", 0, 3, ts(call["ended"]),
                                            None, None, ts(call["ended"]), ts(call["ended"]), "agent"))
                last = call["ended"]
        else:
            # Answered by an agent.
            q = weighted(rng, QUEUES)
            queued = answered + dt.timedelta(seconds=rng.uniform(8, 20))
            wait = int(min(rng.expovariate(1 / 12000), 280000))
            ring = 3000
            agent = min(extensions, key=lambda e: free_at[e])
            got = queued + dt.timedelta(milliseconds=wait)
            talk = int(rng.uniform(60000, 480000))
            wrap = 30000
            end = got + dt.timedelta(milliseconds=talk)
            wrap_end = end + dt.timedelta(milliseconds=wrap)
            free_at[agent] = wrap_end
            call.update(queue=q, agent=agent, agent_call_id=f"{rng.getrandbits(48):012x}@hotline",
                        queued_at=queued, offered=1, agent_answered=got, agent_ended=end,
                        wrap_end=wrap_end, result="answered", wait=wait, talk=talk, wrap=wrap,
                        path=f"greeting>menu>queue:{q}>agent:{agent}", ended=end,
                        cause="agent_bye" if rng.random() < 0.6 else "caller_bye")
            for at, frm, to in [(got - dt.timedelta(milliseconds=ring), "ready", "ringing"),
                                (got, "ringing", "talking"), (end, "talking", "wrap_up"),
                                (wrap_end, "wrap_up", "ready")]:
                if at < now:
                    agent_ev.append((at, agent, frm, to, None, sip, None))
            if rng.random() < 0.33 and call["cause"] == "agent_bye":
                call["satisfaction"] = weighted(rng, [(1, 70), (2, 20), (3, 10)])
            event(case_id, ts(got), "system", "registered", "no_request", "registered")
            category = weighted(rng, CATEGORIES)
            subject = rng.choice(SUBJECTS[category])
            description = f"市民来电反映：{subject}，请尽快处理。"
            name = rng.choice(NAMES) if rng.random() < 0.7 else None
            place = rng.choice(PLACES) if rng.random() < 0.6 else None
            conf = 1 if rng.random() < 0.05 else 0
            decided = end + dt.timedelta(seconds=rng.uniform(5, 25))
            last = decided
            if kind == "answered" or (kind == "dispatched" and category == "praise"):
                handling, status = "answered", "answered"
                event(case_id, ts(decided), agent, "answered", "registered", "answered",
                      "已当场解答")
            elif kind == "forwarded":
                handling, status = "forwarded", "forwarded"
                dept = weighted(rng, dept_pick)
                event(case_id, ts(decided), agent, "forwarded", "registered", "forwarded", dept)
            else:
                handling = "dispatched"
                dept = weighted(rng, dept_pick)
                mode = weighted(rng, [("phone", 70), ("written", 25), ("urgent", 5)])
                days_for = {"phone": 3, "written": 7, "urgent": 0}[mode]
                deadline = end_of_working_day(decided, days_for)
                event(case_id, ts(decided), agent, "dispatched", "registered", "dispatched",
                      f"{dept} ({mode})")
                status = "dispatched"
                # How far it got: recent cases are still held, old ones closed; a few
                # old ones are stuck (still held, overdue).
                stuck = age_days > 10 and rng.random() < 0.02
                steps = ["accept", "reply", "revisit", "close"]
                if stuck:
                    steps = steps[: rng.choice([0, 1])]
                elif age_days < 1:
                    steps = steps[: weighted(rng, [(0, 60), (1, 35), (2, 5)])]
                elif age_days < 5:
                    steps = steps[: weighted(rng, [(0, 20), (1, 40), (2, 25), (3, 15)])]
                elif age_days < 10:
                    steps = steps[: weighted(rng, [(1, 5), (2, 15), (3, 20), (4, 60)])]
                at = decided
                dept_actor = f"h_{dept.split('.')[0]}"
                for step in steps:
                    at = at + dt.timedelta(hours=rng.uniform(0.5, 30 if step != "revisit" else 12))
                    if at >= now:
                        break
                    if step == "accept":
                        event(case_id, ts(at), dept_actor, "accepted", status, "accepted")
                        status = "accepted"
                    elif step == "reply":
                        if rng.random() < 0.05:  # urged first
                            event(case_id, ts(at), "sup1", "urged", None, None, "请加快办理")
                            urge += 1
                            at += dt.timedelta(hours=2)
                        event(case_id, ts(at), dept_actor, "replied", status, "replied", "已处理完毕")
                        status, resolved = "replied", at
                    elif step == "revisit":
                        sat = weighted(rng, [(1, 70), (2, 20), (3, 10)])
                        if sat == 3 and rng.random() < 0.5 and age_days < 15:
                            event(case_id, ts(at), "1001", "revisited", status,
                                  "revisited_unsatisfied", "unsatisfied")
                            event(case_id, ts(at + dt.timedelta(minutes=5)), "sup1", "redo",
                                  "revisited_unsatisfied", "redo", dept)
                            status, redo, resolved = "redo", 1, None
                            at += dt.timedelta(minutes=5)
                            deadline = end_of_working_day(at, days_for)
                            last = at
                            break
                        verdict = {1: "satisfied", 2: "mostly_satisfied", 3: "unsatisfied"}[sat]
                        event(case_id, ts(at), "1001", "revisited", status,
                              "revisited" if sat < 3 else "revisited_unsatisfied", verdict)
                        status = "revisited" if sat < 3 else "revisited_unsatisfied"
                    elif step == "close":
                        event(case_id, ts(at), "sup1", "closed", status, "closed", None)
                        status, closed = "closed", at
                    last = at
                if status in ("dispatched", "accepted", "redo"):
                    held += 1
                    overdue += deadline < now
            if status in ("answered", "forwarded"):
                closed = None
            if call["satisfaction"]:
                event(case_id, ts(wrap_end), "system", "satisfaction", None, None,
                      str(call["satisfaction"]))
        confidential += conf or category in ("complaint", "report")
        t["cases"].append((case_id, ticket, channel, status, number, ts(answered), ts(last), name,
                           place, category, subject, description, handling,
                           dept_id[dept] if dept else None, mode, ts(deadline) if deadline else None,
                           conf, sat, urge, redo, None, ts(resolved) if resolved else None,
                           ts(closed) if closed else None))
        t["calls"].append((call_id, case_id, sip, number, "12345", "inbound", ts(arrived), ts(answered),
                           ts(call["ended"]), call["cause"], call["path"], call["queue"], call["agent"],
                           call["agent_call_id"], ts(call["queued_at"]) if call["queued_at"] else None,
                           call["offered"], call["rejected"],
                           ts(call["agent_answered"]) if call["agent_answered"] else None,
                           ts(call["agent_ended"]) if call["agent_ended"] else None,
                           ts(call["wrap_end"]) if call["wrap_end"] else None, call["result"],
                           call["wait"], call["talk"], call["wrap"], call["satisfaction"], None, "bench"))
        if call["agent"]:
            rec_id += 1
            day = arrived.strftime("%Y/%m/%d")
            t["recordings"].append((rec_id, call_id, case_id, "conversation",
                                    f"{day}/{ticket}-{call_id}-conversation.wav", call["talk"],
                                    call["talk"] * 32 + 44, ts(call["agent_ended"])))
        # A second, repeat call on 5 % of work orders (a caller asking how it is going).
        if status not in ("no_request",) and rng.random() < 0.05:
            later = arrived + dt.timedelta(hours=rng.uniform(2, 72))
            if later < now - dt.timedelta(minutes=5):
                call_id += 1
                t["calls"].append((call_id, case_id, f"{rng.getrandbits(64):016x}@trunk.example",
                                   number, "12345", "inbound", ts(later),
                                   ts(later + dt.timedelta(milliseconds=250)),
                                   ts(later + dt.timedelta(seconds=30)), "caller_bye",
                                   "greeting>menu>status", None, None, None, None, 0, 0, None, None,
                                   None, None, None, None, None, None, None, "bench"))
        # The case's events are written in time order by the real flow; keep ids so.
        mine = events[ev_start:]
        mine.sort(key=lambda e: e[1])
        events[ev_start:] = mine
        # Missed calls: about 3 % of arrivals.
        if rng.random() < 0.03:
            t["missed_calls"].append((f"{rng.getrandbits(64):016x}@trunk.example", number, "12345",
                                      ts(arrived - dt.timedelta(seconds=7)),
                                      ts(arrived - dt.timedelta(seconds=2)), "caller_cancel"))

    # Events in global time order, as they would have been appended.
    events.sort(key=lambda e: e[1])
    t["case_events"] = [(i,) + e for i, e in enumerate(events, start=1)]
    agent_ev.sort(key=lambda e: e[0])
    t["agent_events"] = [(i, e[1], ts(e[0]), e[2], e[3], e[4], e[5], e[6])
                         for i, e in enumerate(agent_ev, start=1) if e[0] < now]
    t["missed_calls"] = [(i,) + m for i, m in enumerate(t["missed_calls"], start=1)]
    t["callback_attempts"] = [(i,) + a for i, a in enumerate(t["callback_attempts"], start=1)]
    t["ticket_sequences"] = sorted(seq.items())
    stats = dict(held=held, overdue=overdue, confidential=confidential)
    return t, stats


COLUMNS = {
    "departments": "id, code, name, parent_id, level, active, created_at",
    "cases": "id, ticket, channel, status, caller_number, created_at, updated_at, caller_name, "
             "location, category, subject, description, handling_mode, department_id, "
             "dispatch_mode, deadline, confidential, satisfaction, urge_count, redo_count, "
             "returned_reason, resolved_at, closed_at",
    "calls": "id, case_id, sip_call_id, caller_number, called_number, direction, arrived_at, "
             "answered_at, ended_at, hangup_cause, ivr_path, queue, agent, agent_call_id, queued_at, "
             "offered_count, rejected_count, agent_answered_at, agent_ended_at, wrap_up_ended_at, "
             "acd_result, wait_ms, talk_ms, wrap_up_ms, satisfaction, callback_task_id, node",
    "recordings": "id, call_id, case_id, kind, path, duration_ms, bytes, created_at",
    "case_events": "id, case_id, at, actor, event, from_status, to_status, note",
    "agent_events": "id, extension, at, from_state, to_state, reason, sip_call_id, actor",
    "missed_calls": "id, sip_call_id, caller_number, called_number, arrived_at, ended_at, cause",
    "callback_tasks": "id, case_id, number, reason, priority, place_at, earliest_at, status, "
                      "attempts, max_attempts, next_attempt_at, last_result, agent, created_at, "
                      "updated_at, mode",
    "callback_attempts": "id, task_id, at, result, agent",
    "ticket_sequences": "day, last",
}
# Insert order (foreign keys).
ORDER = ["departments", "cases", "callback_tasks", "calls", "recordings", "case_events",
         "agent_events", "missed_calls", "callback_attempts", "ticket_sequences"]
AGENT_COPY = ("INSERT INTO agents (extension, name, password_hash, realm, ha1_md5, ha1_sha256, "
              "max_ring_secs, wrap_up_secs, created_at, updated_at) SELECT {ext}, 'Agent ' || {ext}, "
              "password_hash, realm, ha1_md5, ha1_sha256, max_ring_secs, wrap_up_secs, created_at, "
              "updated_at FROM agents WHERE extension = '1001'")


def write_sqlite(path, t):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("BEGIN IMMEDIATE")
    if db.execute("SELECT COUNT(*) FROM agents WHERE extension = '1001'").fetchone()[0] != 1:
        sys.exit("agent 1001 is missing: `hotline agent add 1001 …` first")
    for ext in t["agents"]:
        db.execute(AGENT_COPY.format(ext=f"'{ext}'"))
    for table in ORDER:
        cols = COLUMNS[table]
        marks = ", ".join("?" * len(cols.split(",")))
        db.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", t[table])
    db.execute("COMMIT")
    db.close()


def copy_value(v):
    if v is None:
        return "\\N"
    s = str(v)
    assert "\t" not in s and "\n" not in s and "\\" not in s, s
    return s


def write_postgres(url, t):
    lines = ["\\set ON_ERROR_STOP on", "BEGIN;"]
    for ext in t["agents"]:
        lines.append(AGENT_COPY.format(ext=f"'{ext}'") + ";")
    for table in ORDER:
        lines.append(f"COPY {table} ({COLUMNS[table]}) FROM STDIN;")
        for row in t[table]:
            lines.append("\t".join(copy_value(v) for v in row))
        lines.append("\\.")
    for table in ORDER:
        if table != "ticket_sequences":
            lines.append(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT COALESCE(MAX(id), 1) FROM {table}));")
    lines.append("COMMIT;")
    lines.append("ANALYZE;")  # what autovacuum does soon after a bulk load
    data = ("\n".join(lines) + "\n").encode()
    subprocess.run(["psql", "-q", "-X", url], input=data, check=True, stdout=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("backend", choices=["sqlite", "postgres"])
    p.add_argument("target", help="SQLite file or PostgreSQL URL")
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--seed", type=int, default=12)
    a = p.parse_args()
    now = dt.datetime.now(UTC)
    t0 = time.monotonic()
    t, stats = generate(a.cases, a.days, a.seed, now)
    t1 = time.monotonic()
    (write_sqlite if a.backend == "sqlite" else write_postgres)(a.target, t)
    t2 = time.monotonic()
    counts = ", ".join(f"{k} {len(v)}" for k, v in t.items() if k != "agents")
    print(f"seeded {a.backend}: {counts}, agents {len(t['agents']) + 1}; held by departments "
          f"{stats['held']} ({stats['overdue']} overdue), confidential {stats['confidential']}; "
          f"generated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
