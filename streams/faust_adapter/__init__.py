"""Every place the worker relies on faust beyond its public API, in one package, so that an upgrade
fails loudly here (tests/unit/test_faust_adapter.py pins each behaviour relied on):

- `consumer`: the consumer's offset bookkeeping (`Consumer._new_offset`, `_add_gap`,
  `seek_to_committed`), the fetch wait (`AIOKafkaConsumerThread._create_worker_consumer` setting
  aiokafka's `_fetch_max_wait_ms`), and the commit gates (`App`);
- `stream`: batches cut once their first event has waited (`Stream.take_batches`, over
  `_enable_passive`, `add_processor` and faust's acknowledgement);
- `table`: rule state keyed by partition (`Table.partition_for_key`) and saved straight to the
  producer with faust's key encoding (`changelog_topic.prepare_key`, `Table.data`).
"""
