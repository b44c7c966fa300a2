# Sockets are denied: connect raises OSError, the run is permanent.
# input: {}
# expect: permanent
# message: PermissionError
import socket


def run(input):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 80))
    return {"connected": True}
