//! The encrypted column and the pitfalls of the three engines (ARCHITECTURE.md,
//! "Pitfalls of the three databases"), at the store level, on every configured backend:
//! sealed personal data round-trips and is found by its blind index; the unique index on
//! the blind index names the field; ciphertext above MariaDB's 64 KiB `blob` survives;
//! `*_at_us` instants outside 1970–2038 come back exact; codes differing only in case or
//! trailing spaces are distinct keys; SQLite connections carry WAL and synchronous=FULL.
//!
//! MariaDB shares one database between tests, so each test makes its own chain rows.

use jiayou_store::crypto::{KeyRing, normalize_phone};
use jiayou_store::entity::{chain, grade, member};
use jiayou_store::sea_orm::prelude::ChronoDateTimeUtc;
use jiayou_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, QueryFilter, QueryOrder, Set, Statement, TransactionTrait,
};
use jiayou_store::{Db, StoreError};
use jiayou_testkit::{Backend, TestDatabase, on_each_engine, unique_suffix};

const PHONE: &str = "members.phone";
const NAME: &str = "members.name";

/// A chain row with a unique code; returns its id.
async fn new_chain(db: &Db, created_at_us: i64, updated_at_us: i64) -> i64 {
    chain::ActiveModel {
        code: Set(format!("S{}", unique_suffix())),
        name: Set("存储测试连锁".into()),
        time_zone: Set("Asia/Shanghai".into()),
        created_at_us: Set(created_at_us),
        updated_at_us: Set(updated_at_us),
        ..Default::default()
    }
    .insert(db.writer())
    .await
    .expect("insert chain")
    .id
}

fn member_row(
    chain_id: i64,
    phone: Option<Vec<u8>>,
    bidx: Option<String>,
    name: Option<Vec<u8>>,
) -> member::ActiveModel {
    let now = jiayou_store::now_us();
    member::ActiveModel {
        chain_id: Set(chain_id),
        phone: Set(phone),
        phone_bidx: Set(bidx),
        name: Set(name),
        created_at_us: Set(now),
        updated_at_us: Set(now),
        erased_at_us: Set(None),
        ..Default::default()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn by_phone(db: &Db, chain_id: i64, bidx: &str) -> Vec<member::Model> {
    member::Entity::find()
        .filter(member::Column::ChainId.eq(chain_id))
        .filter(member::Column::PhoneBidx.eq(bidx))
        .all(db.reader())
        .await
        .expect("query by blind index")
}

on_each_engine! {
    async fn sealed_member_round_trips_and_is_found_by_blind_index(db, b) {
        let (ring, _) = KeyRing::generate();
        let chain_id = new_chain(db, 1, 1).await;
        let typed = "+86 138-0013-8000";
        let name = "张小凤";
        let bidx = ring.blind_index(PHONE, &normalize_phone(typed));
        let m = member_row(chain_id, Some(ring.seal(PHONE, typed)), Some(bidx.clone()), Some(ring.seal(NAME, name)))
            .insert(db.writer())
            .await
            .expect("insert member");

        // Read back from the database, not from the insert's echo.
        let row = member::Entity::find_by_id(m.id).one(db.reader()).await.unwrap().expect("member row");
        let phone_ct = row.phone.clone().expect("phone stored");
        let name_ct = row.name.clone().expect("name stored");
        assert_eq!(ring.open(PHONE, &phone_ct).unwrap(), typed, "{b:?}: phone opens to what was sealed");
        assert_eq!(ring.open(NAME, &name_ct).unwrap(), name, "{b:?}: Chinese name opens intact");
        // The column holds ciphertext only: no plaintext, in any of its forms.
        for plain in [typed, "13800138000", "138-0013-8000", name] {
            assert!(!contains(&phone_ct, plain.as_bytes()), "{b:?}: phone column leaks {plain:?}");
            assert!(!contains(&name_ct, plain.as_bytes()), "{b:?}: name column leaks {plain:?}");
        }
        assert!(!bidx.contains("13800138000"), "{b:?}: the blind index is not the number");
        // Sealed under the column's context: the phone does not open as a name.
        assert!(ring.open(NAME, &phone_ct).is_err(), "{b:?}: context is authenticated");
        // Exactly the bytes sealed: header, nonce, ciphertext and tag (nothing cut or padded).
        assert_eq!(phone_ct.len(), 2 + 12 + typed.len() + 16, "{b:?}: stored length");

        // Found by the blind index of the same number written another way.
        for input in ["13800138000", "138 0013 8000", "0086 13800138000", "+86 138-0013-8000"] {
            let probe = ring.blind_index(PHONE, &normalize_phone(input));
            let found = by_phone(db, chain_id, &probe).await;
            assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [m.id], "{b:?}: lookup by {input:?}");
        }
        let other = ring.blind_index(PHONE, &normalize_phone("13800138001"));
        assert!(by_phone(db, chain_id, &other).await.is_empty(), "{b:?}: another phone finds nothing");
        // Another key finds nothing: the index is keyed, not a plain hash.
        let (other_ring, _) = KeyRing::generate();
        let foreign = other_ring.blind_index(PHONE, "13800138000");
        assert!(by_phone(db, chain_id, &foreign).await.is_empty(), "{b:?}: index depends on the key");

        // The same phone again in the same chain: refused, blamed on `phone`.
        let err = member_row(chain_id, Some(ring.seal(PHONE, "13800138000")), Some(bidx.clone()), None)
            .insert(db.writer())
            .await
            .expect_err("a second member with the same phone in one chain");
        let store_err = StoreError::from(err);
        assert!(matches!(store_err, StoreError::Duplicate { field: "phone" }), "{b:?}: got {store_err:?}");
        let shown = store_err.to_string();
        assert!(!shown.contains(&bidx) && !shown.contains("138"), "{b:?}: message echoes a value: {shown}");
        assert_eq!(by_phone(db, chain_id, &bidx).await.len(), 1, "{b:?}: nothing half-written");

        // ...but the same phone in another chain is another member.
        let other_chain = new_chain(db, 1, 1).await;
        let m2 = member_row(other_chain, Some(ring.seal(PHONE, "13800138000")), Some(bidx.clone()), None)
            .insert(db.writer())
            .await
            .expect("same phone, other chain");
        assert_eq!(by_phone(db, other_chain, &bidx).await.iter().map(|r| r.id).collect::<Vec<_>>(), [m2.id], "{b:?}");
        // Members without a phone (NULL index) never collide with each other.
        for _ in 0..2 {
            member_row(chain_id, None, None, Some(ring.seal(NAME, name)))
                .insert(db.writer())
                .await
                .unwrap_or_else(|e| panic!("{b:?}: NULL phone_bidx twice: {e}"));
        }
    }

    async fn large_sealed_value_round_trips(db, b) {
        let (ring, _) = KeyRing::generate();
        let chain_id = new_chain(db, 1, 1).await;
        // 100 KiB of mixed Chinese and ASCII text: well past MariaDB's 64 KiB `blob`.
        let unit = "昆明市五华区加油站会员地址 Kunming No.1 ";
        let mut text = String::new();
        let mut i = 0u32;
        while text.len() < 100 * 1024 {
            text.push_str(unit);
            text.push_str(&i.to_string());
            i += 1;
        }
        let sealed = ring.seal(NAME, &text);
        assert!(sealed.len() > 100 * 1024);
        let m = member_row(chain_id, None, None, Some(sealed.clone()))
            .insert(db.writer())
            .await
            .unwrap_or_else(|e| panic!("{b:?}: insert 100 KiB sealed value: {e}"));
        let row = member::Entity::find_by_id(m.id).one(db.reader()).await.unwrap().expect("row");
        let stored = row.name.expect("name stored");
        assert_eq!(stored.len(), sealed.len(), "{b:?}: ciphertext cut or padded");
        assert!(stored == sealed, "{b:?}: ciphertext bytes changed");
        assert_eq!(ring.open(NAME, &stored).expect("opens"), text, "{b:?}: 100 KiB round trip");
    }

    async fn instants_outside_1970_to_2038_round_trip(db, b) {
        // 2100-01-01T00:00:00.123456Z: 47,482 days after the epoch.
        let y2100 = 4_102_444_800_000_000 + 123_456;
        // 1969-07-20T20:17:40.000001Z and 1900-01-01T00:00:00.5Z.
        let moon = -14_182_940_000_000 + 1;
        let y1900 = -2_208_988_800_000_000 + 500_000;
        // The constants are the instants they claim (checked with chrono, independently).
        let rfc = |us: i64| ChronoDateTimeUtc::from_timestamp_micros(us).unwrap().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        assert_eq!(rfc(y2100), "2100-01-01T00:00:00.123456Z");
        assert_eq!(rfc(moon), "1969-07-20T20:17:40.000001Z");
        assert_eq!(rfc(y1900), "1900-01-01T00:00:00.500000Z");

        let mut ids = Vec::new();
        for (created, updated) in [(y2100, moon), (moon, y1900), (y1900, y2100), (0, -1)] {
            let id = new_chain(db, created, updated).await;
            let row = chain::Entity::find_by_id(id).one(db.reader()).await.unwrap().expect("chain row");
            assert_eq!((row.created_at_us, row.updated_at_us), (created, updated), "{b:?}: instants changed");
            ids.push(id);
        }
        // Signed order survives: a range filter and a sort see the same instants.
        let sorted: Vec<i64> = chain::Entity::find()
            .filter(chain::Column::Id.is_in(ids.clone()))
            .order_by_asc(chain::Column::CreatedAtUs)
            .all(db.reader())
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.created_at_us)
            .collect();
        assert_eq!(sorted, [y1900, moon, 0, y2100], "{b:?}: ordered by instant");
        let before_epoch = chain::Entity::find()
            .filter(chain::Column::Id.is_in(ids.clone()))
            .filter(chain::Column::CreatedAtUs.lt(0))
            .all(db.reader())
            .await
            .unwrap();
        assert_eq!(before_epoch.len(), 2, "{b:?}: two instants before 1970");

        // A nullable instant column too.
        let (ring, _) = KeyRing::generate();
        let mut m = member_row(ids[0], None, None, Some(ring.seal(NAME, "王五")));
        m.erased_at_us = Set(Some(y2100));
        let m = m.insert(db.writer()).await.expect("member");
        let row = member::Entity::find_by_id(m.id).one(db.reader()).await.unwrap().expect("row");
        assert_eq!(row.erased_at_us, Some(y2100), "{b:?}: nullable instant");
    }

    async fn codes_differing_in_case_or_trailing_space_are_distinct(db, b) {
        let chain_id = new_chain(db, 1, 1).await;
        let insert = |code: &'static str| {
            grade::ActiveModel {
                chain_id: Set(chain_id),
                code: Set(code.to_owned()),
                active_code: Set(Some(code.to_owned())),
                name: Set(format!("油品 {code:?}")),
                energy_type: Set("gasoline".into()),
                unit: Set("litre".into()),
                retired_at_us: Set(None),
                created_at_us: Set(1),
                updated_at_us: Set(1),
                ..Default::default()
            }
            .insert(db.writer())
        };
        for code in ["a", "A", "B", "B "] {
            insert(code).await.unwrap_or_else(|e| panic!("{b:?}: code {code:?} collides with another: {e}"));
        }
        for code in ["a", "A", "B", "B "] {
            let rows = grade::Entity::find()
                .filter(grade::Column::ChainId.eq(chain_id))
                .filter(grade::Column::Code.eq(code))
                .all(db.reader())
                .await
                .unwrap();
            let got: Vec<&str> = rows.iter().map(|g| g.code.as_str()).collect();
            assert_eq!(got, [code], "{b:?}: lookup of {code:?} compares exactly");
        }
        // An exact duplicate still collides, blamed on `code`.
        let err = insert("A").await.expect_err("duplicate code");
        let e = StoreError::from(err);
        assert!(matches!(e, StoreError::Duplicate { field: "code" }), "{b:?}: got {e:?}");
    }
}

// ---------- SQLite only: connection settings ----------

async fn pragma_i64(conn: &impl ConnectionTrait, name: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, format!("PRAGMA {name}")))
        .await
        .unwrap_or_else(|e| panic!("PRAGMA {name}: {e}"))
        .expect("a row");
    row.try_get_by_index::<i64>(0).unwrap_or_else(|e| panic!("PRAGMA {name}: {e}"))
}

async fn journal_mode(conn: &impl ConnectionTrait) -> String {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA journal_mode".to_owned()))
        .await
        .expect("PRAGMA journal_mode")
        .expect("a row");
    row.try_get_by_index::<String>(0).expect("journal_mode text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_connections_use_wal_and_synchronous_full() {
    let tdb = TestDatabase::create(Backend::Sqlite).await.expect("SQLite is always available");
    let db = Db::connect(tdb.url()).await.expect("connect");
    assert_eq!(db.backend(), DbBackend::Sqlite);

    for (role, conn) in [("writer", db.writer()), ("reader", db.reader())] {
        assert_eq!(journal_mode(conn).await, "wal", "{role}: journal_mode");
        assert_eq!(pragma_i64(conn, "synchronous").await, 2, "{role}: synchronous=FULL");
        assert_eq!(pragma_i64(conn, "busy_timeout").await, 10_000, "{role}: busy_timeout ms");
        assert_eq!(pragma_i64(conn, "foreign_keys").await, 1, "{role}: foreign_keys");
    }

    // synchronous is per connection: hold every reader connection at once (the pool has
    // eight) and ask each one.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(db.reader().begin().await.expect("reader transaction"));
    }
    for (i, tx) in held.iter().enumerate() {
        assert_eq!(pragma_i64(tx, "synchronous").await, 2, "reader connection {i}: synchronous=FULL");
        assert_eq!(journal_mode(tx).await, "wal", "reader connection {i}");
    }
    for tx in held {
        tx.rollback().await.expect("rollback");
    }

    // Write transactions begin IMMEDIATE: the write lock is taken at BEGIN, so another
    // connection cannot start a write transaction meanwhile (a deferred BEGIN would let it).
    let tx = db.begin().await.expect("begin");
    assert_eq!(pragma_i64(&tx, "synchronous").await, 2, "writer transaction: synchronous=FULL");
    let other = other_connection(tdb.url()).await;
    let blocked = other.execute_raw(Statement::from_string(DbBackend::Sqlite, "BEGIN IMMEDIATE".to_owned())).await;
    assert!(blocked.is_err(), "a second writer started while Db::begin held the database");
    tx.rollback().await.expect("rollback");
    other.execute_raw(Statement::from_string(DbBackend::Sqlite, "BEGIN IMMEDIATE".to_owned())).await.expect("now free");
    other.execute_raw(Statement::from_string(DbBackend::Sqlite, "ROLLBACK".to_owned())).await.expect("rollback");
    other.close().await.ok();
    db.close().await.expect("close");
}

/// A separate single connection to the same file that gives up at once on a lock.
async fn other_connection(url: &str) -> DatabaseConnection {
    let mut o = ConnectOptions::new(url);
    o.max_connections(1)
        .min_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| o.busy_timeout(std::time::Duration::ZERO));
    Database::connect(o).await.expect("second connection")
}
