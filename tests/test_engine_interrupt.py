"""Ctrl-C held over the critical sections of training (``stopping.deferred_interrupt``)."""

import os
import signal
import threading

import pytest

from theory.engine import stopping


def test_ctrl_c_inside_the_block_is_raised_when_it_ends():
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with stopping.deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("block")    # the signal did not cut the block short
    assert finished == ["block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_is_raised_at_once():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with stopping.deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            reached.append("after the second")
    assert reached == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_block_without_ctrl_c_returns_normally_and_restores_the_handler():
    with stopping.deferred_interrupt():
        value = 1 + 1
    assert value == 2 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_off_the_main_thread_it_changes_nothing():
    seen = []

    def work():
        with stopping.deferred_interrupt():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]
