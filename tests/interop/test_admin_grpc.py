"""The admin API from a gRPC client nobody here wrote (Python grpcio), knowing only what the
server's reflection tells it: the service is listed, its descriptors describe every message,
and calls built from them create an account that then spends through SMPP up to its limit.
"""

import time

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import smpp_raw as raw
from conftest import free_port, wait_until

TOKEN = "interop-admin-token"
AUTH = [("authorization", "Bearer " + TOKEN)]
SERVICE = "tern.admin.v1.Admin"


def reflect(channel, request):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    return list(stub.ServerReflectionInfo(iter([request]), metadata=AUTH, timeout=10))


def load_pool(channel):
    """Every file the service needs, added to a pool in dependency order."""
    pending = {}
    for response in reflect(channel, reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)):
        for blob in response.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(blob)
            pending[fd.name] = fd
    pool = descriptor_pool.DescriptorPool()
    added = set()
    while pending:
        ready = [fd for fd in pending.values() if all(d in added for d in fd.dependency)]
        assert ready, "unresolvable dependencies: %r" % {n: list(f.dependency) for n, f in pending.items()}
        for fd in ready:
            pool.Add(fd)
            added.add(fd.name)
            del pending[fd.name]
    return pool


def method(channel, pool, name):
    m = pool.FindServiceByName(SERVICE).FindMethodByName(name)
    request = message_factory.GetMessageClass(m.input_type)
    response = message_factory.GetMessageClass(m.output_type)
    call = channel.unary_unary("/%s/%s" % (SERVICE, name), request_serializer=request.SerializeToString,
                               response_deserializer=response.FromString)
    return request, call


def test_a_reflection_only_client_creates_an_account_that_spends_to_its_limit(tern_factory, smsc_sim):
    admin_port = free_port()
    node = tern_factory(upstream=smsc_sim,
                        extra='\n[admin]\nlisten = "127.0.0.1:%d"\ntoken = "%s"\n' % (admin_port, TOKEN))
    channel = grpc.insecure_channel("127.0.0.1:%d" % admin_port)
    grpc.channel_ready_future(channel).result(timeout=15)

    # Without the token nothing is served, reflection included.
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    with pytest.raises(grpc.RpcError) as refused:
        list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                       timeout=10))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

    listed = reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = [s.name for r in listed for s in r.list_services_response.service]
    assert SERVICE in names, names

    pool = load_pool(channel)
    create_request, create = method(channel, pool, "CreateAccount")
    account = create(create_request(id="pyadmin", password="pw", max_messages=3, period="day"),
                     metadata=AUTH, timeout=15)
    assert account.id == "pyadmin"
    assert account.limits.max_messages == 3

    # A second create of the same id is refused with ALREADY_EXISTS.
    with pytest.raises(grpc.RpcError) as again:
        create(create_request(id="pyadmin", password="pw"), metadata=AUTH, timeout=15)
    assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS

    with raw.RawSmpp(node.port) as c:
        wait_until(lambda: c.bind(raw.BIND_TRANSCEIVER, "pyadmin", "pw").status == 0 or None, 10,
                   what="the new account to bind")
        statuses = [c.submit("spend %d" % i, timeout=15).status for i in range(4)]
        assert statuses == [0, 0, 0, 0x45], statuses
        assert c.unbind().status == 0

    get_request, get = method(channel, pool, "GetAccount")
    deadline = time.monotonic() + 15
    while True:
        shown = get(get_request(id="pyadmin"), metadata=AUTH, timeout=15)
        if shown.ledger.reserved_parts == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown.ledger.period_used == 3, shown
    assert shown.ledger.reserved_parts == 0, shown
