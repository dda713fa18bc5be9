//! The audit trail (S6) on every configured backend: rows chained per scope with seq
//! 1..n; tampering (an edited field, a deleted row, a cut tail, a chain re-hashed from
//! start to end with another key) reported at the right scope and seq; 20 parallel
//! writers never fork a chain; writers of different stations do not wait for each other;
//! a rolled-back change leaves no audit row; search and CSV export.
//!
//! MariaDB shares one database between tests, so each test works in a fresh chain and
//! looks only at its own scopes (other tests tamper with theirs on purpose).

use std::sync::Arc;
use std::time::Duration;

use jiayou_app::App;
use jiayou_app::audit::{
    self, Actor, AuditEntry, AuditFilter, AuditKey, Break, BreakReason, ScopeReport, VerifyReport,
};
use jiayou_app::paging::PageRequest;
use jiayou_domain::audit::{AuditRecord, GENESIS_HASH, verify_chain};
use jiayou_store::crypto::KeyRing;
use jiayou_store::entity::{audit_head, audit_log, chain};
use jiayou_store::sea_orm::prelude::ChronoDateTimeUtc;
use jiayou_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, Statement,
};
use jiayou_store::{Db, now_us};
use jiayou_testkit::{Backend, on_each_engine, unique_suffix};
use serde_json::json;

// The `jiayou audit verify` command lives in the binary crate; compile it here to test it.
#[path = "../../jiayou/src/audit_cmd.rs"]
mod audit_cmd;

// ---------- helpers ----------

/// A chain row with a unique code; its id names this test's scopes.
async fn new_chain(db: &Db) -> i64 {
    chain::ActiveModel {
        code: Set(format!("A{}", unique_suffix())),
        name: Set("审计测试连锁".into()),
        time_zone: Set("Asia/Shanghai".into()),
        created_at_us: Set(1),
        updated_at_us: Set(1),
        ..Default::default()
    }
    .insert(db.writer())
    .await
    .expect("insert chain")
    .id
}

fn staff(n: i64) -> Actor {
    Actor::staff(n, format!("staff:user{n}"), Some("203.0.113.7".into()))
}

fn entry(chain_id: i64, station: Option<i64>, i: usize) -> AuditEntry {
    let e = match station {
        Some(s) => AuditEntry::station(chain_id, s, "station.update", "station").target(s),
        None => AuditEntry::chain(chain_id, "grade.update", "grade").target(i),
    };
    // Keys deliberately out of order: stored canonically (sorted).
    e.before(json!({"name": format!("名称{i}"), "revision": i})).after(json!({"revision": i + 1, "name": "新名称"}))
}

/// Records one entry in its own transaction.
async fn record_one(db: &Db, key: &AuditKey, actor: &Actor, e: AuditEntry) {
    let tx = db.begin().await.expect("begin");
    audit::record(&tx, key, actor, e).await.expect("record");
    tx.commit().await.expect("commit");
}

async fn rows(db: &Db, chain_id: i64, station_id: i64) -> Vec<audit_log::Model> {
    audit_log::Entity::find()
        .filter(audit_log::Column::ChainId.eq(chain_id))
        .filter(audit_log::Column::StationId.eq(station_id))
        .order_by_asc(audit_log::Column::Seq)
        .all(db.reader())
        .await
        .expect("read audit rows")
}

async fn head(db: &Db, chain_id: i64, station_id: i64) -> Option<audit_head::Model> {
    audit_head::Entity::find_by_id((chain_id, station_id)).one(db.reader()).await.expect("read head")
}

/// Raw SQL through the writer: what someone with database access could do.
async fn sql(db: &Db, s: &str) -> u64 {
    db.writer()
        .execute_raw(Statement::from_string(db.backend(), s.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .rows_affected()
}

fn scope(report: &VerifyReport, chain_id: i64, station_id: i64) -> &ScopeReport {
    report
        .scopes
        .iter()
        .find(|s| (s.chain_id, s.station_id) == (chain_id, station_id))
        .unwrap_or_else(|| panic!("scope ({chain_id}, {station_id}) missing from the report"))
}

/// The scope's first broken link in the report.
fn broken(report: &VerifyReport, chain_id: i64, station_id: i64) -> Option<Break> {
    scope(report, chain_id, station_id).broken.clone()
}

/// Asserts seq 1..=n, linkage from the genesis hash, and the head on the last row.
async fn assert_clean_chain(db: &Db, key: &AuditKey, chain_id: i64, station_id: i64, n: i64, b: Backend) {
    let rs = rows(db, chain_id, station_id).await;
    let seqs: Vec<i64> = rs.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{b:?}: scope ({chain_id}, {station_id}) seqs");
    assert_eq!(rs[0].prev_hash, GENESIS_HASH, "{b:?}");
    assert!(rs.windows(2).all(|w| w[1].prev_hash == w[0].hash), "{b:?}: linkage");
    let records: Vec<AuditRecord> = rs.iter().cloned().map(Into::into).collect();
    assert_eq!(verify_chain(key, &records), Ok(()), "{b:?}");
    let h = head(db, chain_id, station_id).await.expect("head");
    assert_eq!((h.seq, h.hash.as_str()), (n, rs[rs.len() - 1].hash.as_str()), "{b:?}: head on the last row");
}

on_each_engine! {
    async fn records_chain_per_scope_and_verify(db, b) {
        let key = AuditKey::generate();
        let c = new_chain(db).await;
        // Interleaved writes in three scopes: chain-level, station 11, station 12.
        let plan: [(Option<i64>, usize); 3] = [(None, 3), (Some(11), 5), (Some(12), 2)];
        for i in 0..5 {
            for (station, n) in plan {
                if i < n {
                    record_one(db, &key, &staff(i as i64 + 1), entry(c, station, i)).await;
                }
            }
        }
        for (station, n) in plan {
            assert_clean_chain(db, &key, c, station.unwrap_or(0), n as i64, b).await;
        }

        // What a row holds.
        let r = &rows(db, c, 11).await[1];
        assert_eq!((r.chain_id, r.station_id, r.seq), (c, 11, 2));
        assert_eq!((r.actor_kind.as_str(), r.actor_id, r.actor_label.as_str()), ("staff", Some(2), "staff:user2"));
        assert_eq!(
            (r.ip.as_deref(), r.action.as_str(), r.target_type.as_str()),
            (Some("203.0.113.7"), "station.update", "station")
        );
        assert_eq!(r.target_id.as_deref(), Some("11"));
        assert_eq!(r.before_json.as_deref(), Some(r#"{"name":"名称1","revision":1}"#), "{b:?}: canonical JSON");
        assert_eq!(r.after_json.as_deref(), Some(r#"{"name":"新名称","revision":2}"#), "{b:?}");
        assert!((now_us() - r.at_us).abs() < 600_000_000, "{b:?}: at_us is now, in µs");
        let chain_rows = rows(db, c, 0).await;
        assert!(chain_rows.windows(2).all(|w| w[0].at_us <= w[1].at_us), "{b:?}: time never goes back in a scope");

        // A before/after document beyond MariaDB's 64 KiB `text` survives intact.
        let big: String = "加油站审计".repeat(8_000);
        let e = AuditEntry::station(c, 11, "station.update", "station").after(json!({"notes": big}));
        record_one(db, &key, &Actor::system("test"), e).await;
        let last = rows(db, c, 11).await.pop().unwrap();
        assert_eq!(last.seq, 6);
        let stored = last.after_json.expect("after stored");
        assert!(stored.len() > 100_000, "{b:?}: {} bytes", stored.len());
        assert_eq!(serde_json::from_str::<serde_json::Value>(&stored).unwrap()["notes"], json!(big), "{b:?}");
        assert_eq!(last.actor_id, None);

        // verify, and the CLI's report of it.
        let report = audit::verify(db, &key).await.expect("verify");
        for (station, n) in [(0, 3), (11, 6), (12, 2)] {
            let s = scope(&report, c, station);
            assert_eq!((s.rows, s.broken.clone()), (n, None), "{b:?}: scope {station}");
            assert_eq!(s.head.as_ref().map(|h| h.0), Some(n as i64), "{b:?}");
        }
        assert_eq!(report.key_fingerprint, key.fingerprint());
        let mut text = Vec::new();
        audit_cmd::write_report(&report, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains(&format!("chain {c} station 11")), "{text}");
        assert!(!text.contains(&key.to_base64()), "the report never shows the key");
        if b != Backend::MySql {
            // Own database: nothing else in it, so the whole trail verifies.
            assert!(report.ok(), "{b:?}: {report:?}");
            assert!(text.contains(": OK"), "{text}");
            assert!(audit_cmd::verify(db, &key).await.unwrap(), "{b:?}: `jiayou audit verify` passes");
            // The same trail under another key: every scope broken at seq 1.
            let wrong = audit::verify(db, &AuditKey::generate()).await.unwrap();
            assert!(wrong.scopes.iter().all(|s| s.broken.as_ref().map(|x| x.seq) == Some(1)), "{b:?}");
            assert!(!audit_cmd::verify(db, &AuditKey::generate()).await.unwrap(), "{b:?}: CLI fails");
        }

        // The app carries the configured key.
        let app = App::new(db.clone(), KeyRing::generate().0).with_audit_key(key.clone());
        assert_eq!(app.audit_key.fingerprint(), key.fingerprint());
        let tx = db.begin().await.unwrap();
        let e = AuditEntry::chain(c, "chain.update", "chain").target(c);
        app.audit(&tx, &Actor::admin_token(None), e).await.unwrap();
        tx.commit().await.unwrap();
        let report = app.verify_audit().await.unwrap();
        assert_eq!((scope(&report, c, 0).rows, broken(&report, c, 0)), (4, None), "{b:?}");
        let filter = AuditFilter { chain_id: Some(c), ..Default::default() };
        let found = app.search_audit(&filter, &PageRequest::default()).await.unwrap();
        let newest = &found.items[0];
        assert_eq!((newest.actor_kind.as_str(), newest.actor_label.as_str()), ("admin_token", "admin-token"));
    }

    async fn tampering_with_one_row_is_reported_at_that_seq(db, b) {
        let key = AuditKey::generate();
        let c = new_chain(db).await;
        for station in 1..=6 {
            for i in 0..5 {
                record_one(db, &key, &staff(1), entry(c, Some(station), i)).await;
            }
        }
        let report = audit::verify(db, &key).await.unwrap();
        for station in 1..=6 {
            assert_eq!(broken(&report, c, station), None, "{b:?}: untouched scope {station}");
        }
        let at = |station: i64, seq: i64| format!("WHERE chain_id = {c} AND station_id = {station} AND seq = {seq}");
        // One field of one row per scope, as an attacker with SQL access would.
        assert_eq!(
            sql(db, &format!(r#"UPDATE audit_log SET after_json = '{{"name":"新名称","revision":999}}' {}"#, at(1, 3)))
                .await,
            1
        );
        assert_eq!(sql(db, &format!("UPDATE audit_log SET action = 'station.view' {}", at(2, 2))).await, 1);
        assert_eq!(sql(db, &format!("UPDATE audit_log SET at_us = at_us + 1 {}", at(3, 4))).await, 1);
        assert_eq!(sql(db, &format!("UPDATE audit_log SET actor_label = 'staff:someone' {}", at(4, 1))).await, 1);
        assert_eq!(sql(db, &format!("UPDATE audit_log SET before_json = NULL {}", at(5, 5))).await, 1);
        // Swap two rows' contents (seq stays): the first one moved is reported.
        let rs = rows(db, c, 6).await;
        for (k, other) in [(2usize, 3usize), (3, 2)] {
            let o = &rs[other];
            let s = format!(
                "UPDATE audit_log SET at_us = {}, actor_id = {}, before_json = '{}', after_json = '{}' {}",
                o.at_us,
                o.actor_id.unwrap(),
                o.before_json.as_ref().unwrap(),
                o.after_json.as_ref().unwrap(),
                at(6, k as i64 + 1)
            );
            assert_eq!(sql(db, &s).await, 1);
        }

        let report = audit::verify(db, &key).await.unwrap();
        for (station, seq) in [(1, 3), (2, 2), (3, 4), (4, 1), (5, 5), (6, 3)] {
            assert_eq!(
                broken(&report, c, station),
                Some(Break { seq, reason: BreakReason::HashMismatch }),
                "{b:?}: scope {station}"
            );
            assert_eq!(scope(&report, c, station).rows, seq as u64 - 1, "{b:?}: rows before the break verified");
        }
        assert!(!report.ok());
        let mut text = Vec::new();
        audit_cmd::write_report(&report, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains(&format!("BROKEN  chain {c} station 1: first broken link at seq 3")), "{text}");
        assert!(text.contains("FAILED"), "{text}");
        if b != Backend::MySql {
            assert!(!audit_cmd::verify(db, &key).await.unwrap(), "{b:?}: `jiayou audit verify` fails");
        }
    }

    async fn deleted_rows_and_heads_are_reported(db, b) {
        let key = AuditKey::generate();
        let c = new_chain(db).await;
        for station in 1..=4 {
            for i in 0..5 {
                record_one(db, &key, &staff(1), entry(c, Some(station), i)).await;
            }
        }
        let at = |station: i64, seq: i64| format!("WHERE chain_id = {c} AND station_id = {station} AND seq = {seq}");
        // A middle row.
        assert_eq!(sql(db, &format!("DELETE FROM audit_log {}", at(1, 3))).await, 1);
        // The last row: every remaining link is genuine, the head is not.
        assert_eq!(sql(db, &format!("DELETE FROM audit_log {}", at(2, 5))).await, 1);
        // The last row with the head rewound to the new last row would be invisible (see
        // the module docs); but a head rewound only in seq is not.
        assert_eq!(sql(db, &format!("DELETE FROM audit_log {}", at(3, 5))).await, 1);
        assert_eq!(
            sql(db, &format!("UPDATE audit_heads SET seq = 4 WHERE chain_id = {c} AND station_id = 3")).await,
            1
        );
        // The head itself.
        assert_eq!(sql(db, &format!("DELETE FROM audit_heads WHERE chain_id = {c} AND station_id = 4")).await, 1);

        let report = audit::verify(db, &key).await.unwrap();
        assert_eq!(broken(&report, c, 1), Some(Break { seq: 3, reason: BreakReason::SeqGap { found: 4 } }), "{b:?}");
        assert_eq!(
            broken(&report, c, 2),
            Some(Break { seq: 5, reason: BreakReason::HeadMismatch { head_seq: 5, last_seq: 4 } }),
            "{b:?}"
        );
        assert_eq!(
            broken(&report, c, 3),
            Some(Break { seq: 4, reason: BreakReason::HeadMismatch { head_seq: 4, last_seq: 4 } }),
            "{b:?}"
        );
        assert_eq!(broken(&report, c, 4), Some(Break { seq: 5, reason: BreakReason::HeadMissing }), "{b:?}");

        // Every row of a scope gone, the head left: reported from seq 1.
        assert_eq!(sql(db, &format!("DELETE FROM audit_log WHERE chain_id = {c} AND station_id = 2")).await, 4);
        let report = audit::verify(db, &key).await.unwrap();
        assert_eq!(broken(&report, c, 2).map(|x| x.seq), Some(1), "{b:?}");
    }

    async fn a_chain_rehashed_with_another_key_is_caught(db, b) {
        let key = AuditKey::generate();
        let c = new_chain(db).await;
        for i in 0..6 {
            record_one(db, &key, &staff(1), entry(c, Some(7), i)).await;
            record_one(db, &key, &staff(1), entry(c, Some(8), i)).await;
        }
        // The attacker edits a row, then re-hashes the whole scope from seq 1 with a key of
        // their own and moves the head: every link and the head are consistent again.
        let edit = format!(
            r#"UPDATE audit_log SET after_json = '{{"rev":0}}' WHERE chain_id = {c} AND station_id = 7 AND seq = 4"#
        );
        assert_eq!(sql(db, &edit).await, 1);
        let forged_key = AuditKey::generate();
        let mut prev = GENESIS_HASH.to_owned();
        for m in rows(db, c, 7).await {
            let id = m.id;
            let mut r: AuditRecord = m.into();
            r.seal(&forged_key, &prev).unwrap();
            sql(
                db,
                &format!("UPDATE audit_log SET prev_hash = '{}', hash = '{}' WHERE id = {id}", r.prev_hash, r.hash),
            )
            .await;
            prev = r.hash;
        }
        sql(db, &format!("UPDATE audit_heads SET hash = '{prev}' WHERE chain_id = {c} AND station_id = 7")).await;

        // Consistent under the forged key (so the re-hash was complete)...
        let forged = audit::verify(db, &forged_key).await.unwrap();
        assert_eq!(broken(&forged, c, 7), None, "{b:?}: the forgery is self-consistent");
        // ...and caught at seq 1 under the real one, while the untouched scope verifies.
        let report = audit::verify(db, &key).await.unwrap();
        assert_eq!(broken(&report, c, 7), Some(Break { seq: 1, reason: BreakReason::HashMismatch }), "{b:?}");
        assert_eq!(broken(&report, c, 8), None, "{b:?}");
        assert_eq!(scope(&report, c, 8).rows, 6);
    }

    async fn twenty_parallel_writers_never_fork_a_chain(db, b) {
        let key = Arc::new(AuditKey::generate());
        let c = new_chain(db).await;

        // 20 writers, one scope that does not exist yet (so they also race to create it).
        // Each holds its transaction open a little after recording, so they queue.
        let spawn = |station: Option<i64>, n: usize| {
            let (db, key) = (db.clone(), key.clone());
            tokio::spawn(async move {
                let tx = db.begin().await.expect("begin");
                audit::record(&tx, &key, &staff(n as i64), entry(c, station, n)).await.expect("record");
                tokio::time::sleep(Duration::from_millis(3)).await;
                tx.commit().await.expect("commit");
            })
        };
        let tasks: Vec<_> = (0..20).map(|n| spawn(Some(1), n)).collect();
        for t in tasks {
            t.await.expect("writer task");
        }
        assert_clean_chain(db, &key, c, 1, 20, b).await;
        let mut writers: Vec<i64> = rows(db, c, 1).await.iter().filter_map(|r| r.actor_id).collect();
        writers.sort();
        assert_eq!(writers, (0..20).collect::<Vec<_>>(), "{b:?}: every writer's row, once");

        // 20 writers over four new station scopes and the chain-level scope at once.
        let tasks: Vec<_> =
            (0..20).map(|n| spawn(if n % 5 == 4 { None } else { Some(10 + (n % 5) as i64) }, n)).collect();
        for t in tasks {
            t.await.expect("writer task");
        }
        for s in [0, 10, 11, 12, 13] {
            assert_clean_chain(db, &key, c, s, 4, b).await;
        }
        let report = audit::verify(db, &key).await.unwrap();
        for s in [0, 1, 10, 11, 12, 13] {
            assert_eq!(broken(&report, c, s), None, "{b:?}: scope {s}");
        }
    }

    async fn writers_wait_only_for_their_own_scope(db, b) {
        let key = Arc::new(AuditKey::generate());
        let c = new_chain(db).await;
        record_one(db, &key, &staff(1), entry(c, Some(1), 0)).await;

        // A holds scope (c, 1).
        let a = db.begin().await.unwrap();
        audit::record(&a, &key, &staff(1), entry(c, Some(1), 1)).await.unwrap();

        // Another writer of the same scope waits for A...
        let waiting = {
            let (db, key) = (db.clone(), key.clone());
            tokio::spawn(async move { record_one(&db, &key, &staff(2), entry(c, Some(1), 2)).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "{b:?}: a second writer of the scope went ahead of the lock holder");

        // ...while a writer of another station does not (on SQLite every write waits for
        // the single writer connection, by design: ARCHITECTURE rule 5).
        if b != Backend::Sqlite {
            let other = tokio::time::timeout(Duration::from_secs(20), async {
                record_one(db, &key, &staff(3), entry(c, Some(2), 0)).await;
                record_one(db, &key, &staff(3), entry(c, None, 0)).await;
            })
            .await;
            assert!(other.is_ok(), "{b:?}: another scope's writer waited for an unrelated lock");
        }
        a.commit().await.unwrap();
        waiting.await.unwrap();
        assert_clean_chain(db, &key, c, 1, 3, b).await;
        let order: Vec<Option<i64>> = rows(db, c, 1).await.iter().map(|r| r.actor_id).collect();
        assert_eq!(order, [Some(1), Some(1), Some(2)], "{b:?}: the waiter comes after the holder");
    }

    async fn a_rolled_back_change_leaves_no_audit_row(db, b) {
        let key = AuditKey::generate();
        let c = new_chain(db).await;
        for i in 0..2 {
            record_one(db, &key, &staff(1), entry(c, Some(5), i)).await;
        }
        let before = head(db, c, 5).await.expect("head");

        // The change and its audit row in one transaction, then the change fails.
        let tx = db.begin().await.unwrap();
        sql_in(&tx, &format!("UPDATE chains SET name = '改名' WHERE id = {c}")).await;
        audit::record(&tx, &key, &staff(1), entry(c, Some(5), 9)).await.unwrap();
        audit::record(&tx, &key, &staff(1), entry(c, Some(6), 9)).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(rows(db, c, 5).await.len(), 2, "{b:?}: no row after rollback");
        assert_eq!(head(db, c, 5).await, Some(before.clone()), "{b:?}: head unchanged");
        assert!(rows(db, c, 6).await.is_empty() && head(db, c, 6).await.is_none(), "{b:?}: new scope not created");
        assert_eq!(chain::Entity::find_by_id(c).one(db.reader()).await.unwrap().unwrap().name, "审计测试连锁");

        // A transaction dropped without commit is a rollback too.
        {
            let tx = db.begin().await.unwrap();
            audit::record(&tx, &key, &staff(1), entry(c, Some(5), 10)).await.unwrap();
        }
        assert_eq!(head(db, c, 5).await, Some(before), "{b:?}");

        // The next committed entry continues the chain where it was.
        record_one(db, &key, &staff(1), entry(c, Some(5), 3)).await;
        assert_clean_chain(db, &key, c, 5, 3, b).await;
        let report = audit::verify(db, &key).await.unwrap();
        assert_eq!(broken(&report, c, 5), None);

        // Entries that break the documented limits fail the transaction; nothing is written.
        let tx = db.begin().await.unwrap();
        for bad in [
            AuditEntry::station(c, 5, "Station.Update", "station"),
            AuditEntry::station(c, 5, "station.update", ""),
            AuditEntry::station(c, -5, "station.update", "station"),
            AuditEntry::station(c, 5, "station.update", "station").target("x".repeat(129)),
        ] {
            assert!(audit::record(&tx, &key, &staff(1), bad.clone()).await.is_err(), "{b:?}: {bad:?}");
        }
        tx.rollback().await.unwrap();
        assert_eq!(rows(db, c, 5).await.len(), 3);
    }

    async fn search_and_export(db, b) {
        let key = AuditKey::generate();
        let c = new_chain(db).await;
        let t0 = now_us();
        let actor = Actor::staff(77, "staff:li,\"si\"", Some("2001:db8::1".into()));
        let plan: Vec<AuditEntry> = vec![
            AuditEntry::station(c, 3, "station.update", "station").target(3).after(json!({"name": "三号站"})),
            AuditEntry::station(c, 3, "price_set", "price").target("3:92"),
            AuditEntry::station(c, 4, "pricexset", "price").target("4:92"),
            AuditEntry::chain(c, "member.pii.view", "member").target(501).after(json!({"fields": ["phone"]})),
            AuditEntry::chain(c, "stations.import", "station"),
            AuditEntry::chain(c, "grade.create", "grade").target(9).after(json!({"code": "=1+2"})),
        ];
        for e in plan {
            record_one(db, &key, &actor, e).await;
        }
        record_one(
            db,
            &key,
            &Actor::system("=cmd|' /C calc'!A0"),
            AuditEntry::chain(c, "grade.update", "grade").target(9),
        )
        .await;
        let by = |f: AuditFilter| async move {
            audit::search(db, &f, &PageRequest::default())
                .await
                .expect("search")
                .items
                .iter()
                .map(|v| v.action.clone())
                .collect::<Vec<_>>()
        };
        let chain_only = AuditFilter { chain_id: Some(c), ..Default::default() };

        // Newest first by default.
        assert_eq!(
            by(chain_only.clone()).await,
            [
                "grade.update",
                "grade.create",
                "stations.import",
                "member.pii.view",
                "pricexset",
                "price_set",
                "station.update"
            ],
            "{b:?}"
        );
        let f = |g: fn(&mut AuditFilter)| {
            let mut x = chain_only.clone();
            g(&mut x);
            x
        };
        assert_eq!(
            by(f(|x| x.action = Some("station.".into()))).await,
            ["station.update"],
            "{b:?}: prefix, not substring"
        );
        assert_eq!(by(f(|x| x.action = Some("price_".into()))).await, ["price_set"], "{b:?}: `_` is not a wildcard");
        assert_eq!(by(f(|x| x.station_id = Some(0))).await.len(), 4, "{b:?}: chain-level only");
        assert_eq!(by(f(|x| x.station_id = Some(3))).await, ["price_set", "station.update"], "{b:?}");
        assert_eq!(by(f(|x| x.actor_id = Some(77))).await.len(), 6, "{b:?}");
        assert_eq!(
            by(f(|x| {
                x.target_type = Some("member".into());
                x.target_id = Some("501".into());
            }))
            .await,
            ["member.pii.view"],
            "{b:?}"
        );
        let all = audit::search(
            db,
            &chain_only,
            &PageRequest { per_page: Some(2), page: Some(2), sort: Some("seq,id".into()) },
        )
        .await
        .unwrap();
        assert_eq!((all.total, all.items.len(), all.per_page), (7, 2, 2), "{b:?}");
        let v =
            &audit::search(db, &f(|x| x.action = Some("member.".into())), &PageRequest::default()).await.unwrap().items
                [0];
        assert_eq!((v.station_id, v.seq, v.actor_id), (None, 1, Some(77)), "{b:?}");
        assert_eq!(v.after, Some(json!({"fields": ["phone"]})));
        let mut window = chain_only.clone();
        window.from = ChronoDateTimeUtc::from_timestamp_micros(t0);
        window.to = ChronoDateTimeUtc::from_timestamp_micros(t0);
        assert!(by(window.clone()).await.is_empty(), "{b:?}: `to` is exclusive");
        window.to = ChronoDateTimeUtc::from_timestamp_micros(now_us() + 1);
        assert_eq!(by(window).await.len(), 7, "{b:?}");
        let bad = audit::search(db, &f(|x| x.action = Some("x%".into())), &PageRequest::default()).await;
        assert!(matches!(bad, Err(jiayou_app::AppError::Invalid(_))), "{b:?}");

        // CSV: BOM, header, newest first, RFC 4180 quoting, formulas defused.
        let mut out = Vec::new();
        assert_eq!(audit::export_csv(db, &chain_only, &mut out).await.unwrap(), 7);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\u{feff}id,chain_id,station_id,seq,at,"), "{text}");
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 8, "{text}");
        assert!(lines[1].contains(",'=cmd|' /C calc'!A0,"), "{b:?}: formula defused: {}", lines[1]);
        assert!(lines[2].contains(r#","staff:li,""si""","#), "{b:?}: quoted: {}", lines[2]);
        assert!(lines[2].contains(r#","{""code"":""=1+2""}","#), "{b:?}: JSON quoted: {}", lines[2]);
        assert!(lines[7].contains(",station.update,station,3,"), "{b:?}: oldest last: {}", lines[7]);
        assert!(lines[7].contains(&format!(",{c},3,1,")), "{b:?}: {}", lines[7]);
    }

    async fn long_chains_page_through_verify_and_export(db, b) {
        // More rows than one page (500) in one scope, written in one transaction.
        let key = AuditKey::generate();
        let c = new_chain(db).await;
        let tx = db.begin().await.unwrap();
        for i in 0..620 {
            audit::record(&tx, &key, &staff(1), AuditEntry::station(c, 9, "pump.update", "pump").target(i))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let report = audit::verify(db, &key).await.unwrap();
        assert_eq!((scope(&report, c, 9).rows, broken(&report, c, 9)), (620, None), "{b:?}");
        sql(db, &format!("UPDATE audit_log SET target_id = 'x' WHERE chain_id = {c} AND station_id = 9 AND seq = 555"))
            .await;
        let report = audit::verify(db, &key).await.unwrap();
        assert_eq!(broken(&report, c, 9).map(|x| x.seq), Some(555), "{b:?}: found on the second page");

        let mut out = Vec::new();
        let n =
            audit::export_csv(db, &AuditFilter { chain_id: Some(c), ..Default::default() }, &mut out).await.unwrap();
        assert_eq!(n, 620);
        let text = String::from_utf8(out).unwrap();
        let seqs: Vec<i64> =
            text.trim_end().split("\r\n").skip(1).map(|l| l.split(',').nth(3).unwrap().parse().unwrap()).collect();
        assert_eq!(seqs, (1..=620).rev().collect::<Vec<_>>(), "{b:?}: every row once, newest first");
    }
}

async fn sql_in(tx: &impl ConnectionTrait, s: &str) {
    tx.execute_raw(Statement::from_string(tx.get_database_backend(), s.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{s}: {e}"));
}
