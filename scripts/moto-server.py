"""moto_server, with moto's DynamoDB operations serialized by one lock.

DynamoDB runs a transaction atomically and in isolation. moto does not: it applies a
transaction's items one by one and undoes a cancelled one by restoring a snapshot of
the whole table taken when it began, so under concurrent requests (moto_server serves
each on its own thread) one transaction's rollback can erase another's committed writes.
Serializing the DynamoDB backend restores the guarantee the code relies on; every other
service (SQS and its long polls) stays concurrent. Arguments are moto_server's.
"""
import functools
import sys
import threading
import types

from moto.dynamodb.models import DynamoDBBackend

_lock = threading.RLock()


def _serialized(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return wrapper


for _name, _member in list(vars(DynamoDBBackend).items()):
    if isinstance(_member, types.FunctionType) and not _name.startswith("__"):
        setattr(DynamoDBBackend, _name, _serialized(_member))

from moto.server import main  # noqa: E402  (after the patch, which it must see)

sys.exit(main())
