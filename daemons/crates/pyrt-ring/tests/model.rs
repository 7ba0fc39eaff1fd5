//! Property tests of the queue protocol in one process: any sequence of pushes and pops preserves
//! order and loses nothing; header parsing never panics on arbitrary bytes (the fuzz target's
//! property, run here on every `make test`).

use proptest::prelude::*;
use pyrt_ring::{QueueConsumer, QueueProducer, RingKind, WaitStrategy, validate_header};
use pyrt_types::{OrderIntent, RawEvent, SymbolId, Timestamp};

proptest! {
    #[test]
    fn random_push_pop_interleavings_preserve_fifo(ops in prop::collection::vec(any::<bool>(), 1..500)) {
        let dir = std::env::temp_dir().join(format!("pyrt-ring-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("q-{}.ring", ops.len()));
        let _ = std::fs::remove_file(&path);
        let mut producer = QueueProducer::open(&path, 8, WaitStrategy::BusySpin).unwrap();
        let mut consumer = QueueConsumer::attach(&path, WaitStrategy::BusySpin).unwrap();
        let (mut next_in, mut next_out) = (0u64, 0u64);
        for push in ops {
            if push {
                let mut e = OrderIntent::with_header(Timestamp::EPOCH, SymbolId(0));
                e.intent_seq = next_in;
                if producer.try_push(&RawEvent::from_event(&e)).is_ok() {
                    next_in += 1;
                } else {
                    prop_assert_eq!(next_in - next_out, 8, "full only when 8 are waiting");
                }
            } else if let Some(e) = consumer.try_pop() {
                prop_assert_eq!(e.as_event::<OrderIntent>().unwrap().intent_seq, next_out);
                next_out += 1;
            } else {
                prop_assert_eq!(next_in, next_out, "empty only when all were read");
            }
        }
        drop(consumer);
        drop(producer);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn header_validation_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), size in any::<u64>()) {
        let _ = validate_header(&bytes, size, RingKind::Queue);
        let _ = validate_header(&bytes, size, RingKind::Broadcast);
    }
}
