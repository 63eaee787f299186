"""One ``ComponentResource`` per AWS concern; :mod:`infra.program` composes them."""
