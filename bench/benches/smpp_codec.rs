//! Micro-benchmark of the SMPP codec on one core: decode and encode of a typical submit_sm
//! (GSM 7-bit, 100 characters, registered_delivery, one vendor TLV) and of a receipt
//! deliver_sm (receipt text, receipted_message_id and message_state), and parsing the
//! receipt text. Throughput is in PDUs (elements) per second.
//!
//! The rest of `bench` drives Tern from outside; a codec micro-benchmark has to link the
//! codec, which is the one exception.

// Benchmark setup: a failed unwrap is a broken benchmark, not a production path.
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tern_model::{Address, DeliveryReport, Message, MessageState, ReceiptRequest, Tlv};
use tern_smpp::codec::{encode, Decoder, Inbound};
use tern_smpp::mapping::{message_to_submit_sm, report_to_deliver_sm, LinkOptions, ReceiptOptions};
use tern_smpp::receipt::{build_text, parse_text};
use tern_smpp::rusmpp::decode::DecodeWithLength;
use tern_smpp::{Command, CommandStatus};

/// PDUs per iteration: a read buffer holds many frames at once under load.
const BATCH: usize = 64;

fn submit_sm() -> Command {
    let text: String =
        "Your verification code is 482913. It expires in 10 minutes. Do not share it. "
            .chars()
            .cycle()
            .take(100)
            .collect();
    let mut message = Message::text(
        Address::alphanumeric("TernBank"),
        Address::international("4915112345678"),
        text,
    );
    message.receipt = ReceiptRequest::Final;
    message.tlvs.push(Tlv {
        tag: 0x1401,
        value: bytes::Bytes::from_static(b"campaign-42"),
    });
    let mut parts =
        message_to_submit_sm(&message, &LinkOptions::default(), 1, 1_706_704_200).unwrap();
    Command::new(CommandStatus::EsmeRok, 7, parts.remove(0))
}

fn report() -> DeliveryReport {
    DeliveryReport {
        message_id: "0F3A9C2B7D41".into(),
        state: MessageState::Delivered,
        submitted: 1,
        delivered: 1,
        submit_unix: Some(1_706_704_200),
        done_unix: Some(1_706_704_203),
        error: 0,
        text: "Your verification code is".into(),
    }
}

fn receipt_deliver_sm() -> Command {
    let deliver = report_to_deliver_sm(
        &report(),
        &Address::international("4915112345678"),
        &Address::alphanumeric("TernBank"),
        &ReceiptOptions::default(),
    )
    .unwrap();
    Command::new(CommandStatus::EsmeRok, 9, deliver)
}

fn frames(command: &Command) -> BytesMut {
    let mut buf = BytesMut::new();
    for _ in 0..BATCH {
        encode(command, &mut buf);
    }
    buf
}

fn codec(c: &mut Criterion, name: &str, command: &Command) {
    let wire = frames(command);
    let decoder = Decoder::default();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            while let Ok(Some(Inbound::Command(command))) = decoder.decode(&mut buf) {
                black_box(command);
            }
        })
    });
    // rusmpp's own body decoder on the same frames, without our framing checks: the
    // difference is what strictness costs.
    group.bench_function("rusmpp_decode_only", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            while buf.len() >= 16 {
                let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                let mut frame = buf.split_to(len);
                let _ = frame.split_to(4);
                black_box(Command::decode(&mut frame, len - 4).unwrap());
            }
        })
    });
    let mut out = BytesMut::with_capacity(wire.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..BATCH {
                encode(black_box(command), &mut out);
            }
            black_box(&out);
        })
    });
    group.bench_function("decode+encode", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            out.clear();
            while let Ok(Some(Inbound::Command(command))) = decoder.decode(&mut buf) {
                encode(&command, &mut out);
            }
            black_box(&out);
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    codec(c, "submit_sm", &submit_sm());
    codec(c, "receipt_deliver_sm", &receipt_deliver_sm());

    let text = build_text(&report(), false);
    let mut group = c.benchmark_group("receipt_text");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| b.iter(|| parse_text(black_box(&text))));
    group.finish();
}

criterion_group!(smpp_codec, benches);
criterion_main!(smpp_codec);
