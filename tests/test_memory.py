import pytest

from nn3d import memory, synthetic


def test_requests_too_large_are_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 << 20)  # 100 MB
    with pytest.raises(memory.TooLargeError, match=r"1,000,000,000 edges needs about 37\.3 GB.*fewer"):
        synthetic.random_network(8, 1_000_000_000)
    with pytest.raises(memory.TooLargeError, match="smaller layers"):
        synthetic.mlp([4000, 4000, 10])
    assert synthetic.random_network(1000, 1000).n_neurons == 1000  # small ones still build


def test_negative_edge_count_is_an_error():
    with pytest.raises(synthetic.NetworkError, match="edges"):
        synthetic.random_network(100, -1)


def test_format_bytes():
    assert memory.format_bytes(512) == "512 B" and memory.format_bytes(3 << 30) == "3.0 GB"
