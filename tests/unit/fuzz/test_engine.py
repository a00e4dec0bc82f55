def test_cases_never_go_out_on_a_connection_idle_for_more_than_a_second():
    """Paced cases come seconds apart; a server closes idle connections after
    its keep-alive (gunicorn 2 s), and a case sent on one closed at that
    instant failed with ReadError, counted against the service."""
    import socket
    import threading
    import time

    from chaoskit.fuzz.engine import target_client

    accepted: list[int] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        listener.settimeout(10)
        for _ in range(2):
            conn, _ = listener.accept()
            accepted.append(1)
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            while conn.recv(65536):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    port = listener.getsockname()[1]
    with target_client(f"http://127.0.0.1:{port}", 5.0) as client:
        assert client.get("/").status_code == 200
        assert client.get("/").status_code == 200  # reused at once
        time.sleep(1.3)
        assert client.get("/").status_code == 200  # a new connection
    server.join(5)
    listener.close()
    assert len(accepted) == 2
