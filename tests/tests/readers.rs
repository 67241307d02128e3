//! ListReaders and WatchReaders: a kiosk sees cards placed and taken away.

use shikaku_tests::TestDaemon;
use shikaku_tests::pb::reader_event::Kind;
use shikaku_tests::pb::{ListReadersRequest, WatchReadersRequest};
use tokio_stream::StreamExt;

#[tokio::test]
async fn list_and_watch() {
    let d = TestDaemon::start().await;
    let readers = d
        .qualification()
        .list_readers(ListReadersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .readers;
    let taro = readers.iter().find(|r| r.name == "sim-taro").unwrap();
    assert!(taro.card_present && taro.face_auth && !taro.in_use);
    assert_eq!(taro.plugin, "simulated-reader");
    let empty = readers.iter().find(|r| r.name == "sim-empty").unwrap();
    assert!(!empty.card_present);
    assert!(
        !readers
            .iter()
            .find(|r| r.name == "sim-generic")
            .unwrap()
            .face_auth
    );

    let mut events = d
        .qualification()
        .watch_readers(WatchReadersRequest {})
        .await
        .unwrap()
        .into_inner();
    // First the state now, one event per reader.
    for _ in 0..readers.len() {
        let e = events.next().await.unwrap().unwrap().event.unwrap();
        assert!(e.initial);
        assert_eq!(e.kind(), Kind::ReaderAdded);
    }
    // Moving taro's card to the empty reader: removed from one, inserted into the other.
    d.running
        .simulated_readers
        .insert("sim-empty", "taro")
        .unwrap();
    let e = events.next().await.unwrap().unwrap().event.unwrap();
    assert_eq!(
        (e.kind(), e.reader.unwrap().name.as_str()),
        (Kind::CardRemoved, "sim-taro")
    );
    let e = events.next().await.unwrap().unwrap().event.unwrap();
    assert_eq!(
        (e.kind(), e.reader.as_ref().unwrap().name.as_str()),
        (Kind::CardInserted, "sim-empty")
    );
    assert!(!e.initial && e.reader.unwrap().card_present);
    // Stopping the daemon ends the stream instead of waiting for the client to hang up.
    d.running.stop().await.unwrap();
    assert!(events.next().await.is_none());
}
