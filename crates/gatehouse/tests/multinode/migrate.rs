//! Two nodes started together on an empty database migrate it once: each migration is recorded
//! once (sqlx's advisory lock serialises them), both nodes come up and serve the same data.

use std::time::Duration;

use serde_json::json;

use crate::cluster::{Cluster, Options, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_an_empty_database_migrate_once() {
    let opts = Options { nodes: 2, redis: false, start_nodes: false, ..Options::default() };
    let Some(mut cluster) = Cluster::start(opts).await else { return };
    cluster.start_all().await;

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../gatehouse-store/migrations/postgres");
    let mut files: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.split('_').next()?.parse().ok())
        .collect();
    files.sort_unstable();
    let mut db = cluster.db().await;
    let rows: Vec<(i64, i64, bool)> = sqlx::query_as(
        "SELECT version, count(*), bool_and(success) FROM _sqlx_migrations GROUP BY version ORDER BY version",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(versions, files, "every migration applied");
    for (version, n, ok) in &rows {
        assert_eq!((*n, *ok), (1, true), "migration {version} recorded {n} times (success {ok})");
    }

    // Both serve, one database: registered through one node, signed in through the other.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let r = http
        .post(a.url("/api/v1/auth/register"))
        .json(&json!({ "email": "both@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = http
        .post(b.url("/api/v1/auth/login"))
        .json(&json!({ "email": "both@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "signed in on the other node");
    eprintln!("migrate once: {} migrations, each recorded once, by two nodes started together; both serve", rows.len());
}
