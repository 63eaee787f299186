"""The fixtures that hand tests real servers give working, isolated ones."""

from __future__ import annotations

from pathlib import Path

import pymysql
import redis

from tests.servers import throwaway_redis


def test_redis_url_answers(redis_url: str) -> None:
    assert redis.Redis.from_url(redis_url).ping() is True


def test_mysql_url_is_an_empty_database(mysql_url: str) -> None:
    database = mysql_url.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
    connection = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database)
    with connection.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == ()
    connection.close()


def test_throwaway_redis_dies_with_its_context(tmp_path: Path) -> None:
    with throwaway_redis(tmp_path) as (process, port):
        client = redis.Redis(host="127.0.0.1", port=port)
        assert client.ping() is True
    assert process.poll() is not None
