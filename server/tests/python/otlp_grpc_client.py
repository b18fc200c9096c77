"""OTLP/gRPC clients written by others, driven by server/tests/grpc_ingest.rs.

  sdk HOST:PORT      the official OpenTelemetry Python SDK and its OTLP/gRPC span
                     exporter send a small trace (a SERVER span with a CLIENT
                     child, then a failing SERVER span), service `py-grpc`
  raw HOST:PORT      grpcio sends bytes that are not protobuf to TraceService/Export
  bomb HOST:PORT     grpcio sends 8 MiB of zeros, gzip-compressed (a few KiB)

Prints one line: `ok`, or the gRPC status code name of the failure (`sdk`:
`FAILURE`, as the SDK reports it). With OSPREY_TEST_KEY set, every call carries
`authorization: Bearer <key>`. Versions are pinned in requirements.txt beside
this file.
"""

import os
import sys

import grpc

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def auth():
    key = os.environ.get("OSPREY_TEST_KEY")
    return [("authorization", f"Bearer {key}")] if key else None


def sdk(target):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": "py-grpc"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("osprey-test")
    with tracer.start_as_current_span("GET /py", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.response.status_code", 200)
        root.set_attribute("client.address", "10.1.2.3")
        with tracer.start_as_current_span("SELECT py", kind=SpanKind.CLIENT) as db:
            db.set_attribute("db.system", "postgresql")
            db.set_attribute("db.query.text", "SELECT 1")
    with tracer.start_as_current_span("POST /py/fail", kind=SpanKind.SERVER) as bad:
        bad.set_attribute("http.response.status_code", 500)
        bad.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    exporter = OTLPSpanExporter(
        endpoint=f"http://{target}", insecure=True, timeout=10, headers=auth()
    )
    result = exporter.export(memory.get_finished_spans())
    exporter.shutdown()
    print("ok" if result == SpanExportResult.SUCCESS else "FAILURE")


def send(target, payload, compression=None):
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(TRACES)
        try:
            call(payload, timeout=10, compression=compression, metadata=auth())
            print("ok")
        except grpc.RpcError as e:
            print(e.code().name)


def main():
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "sdk":
        sdk(target)
    elif mode == "raw":
        send(target, b"\xff\xff\xff\xff not protobuf")
    elif mode == "bomb":
        send(target, b"\x00" * (8 << 20), grpc.Compression.Gzip)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
