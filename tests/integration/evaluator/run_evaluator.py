"""``python -m tests.integration.evaluator.run_evaluator``: the evaluator with the test trial."""

from __future__ import annotations

import uvicorn

from services.evaluator.bootstrap import build_app
from shared.infra.logging import configure_logging
from shared.settings import EvaluatorSettings, KafkaSettings
from tests.unit.evaluator.fakes import OneLabScreener


def main() -> None:
    configure_logging(service="evaluator")
    settings = EvaluatorSettings()
    app = build_app(settings, KafkaSettings(), screener=OneLabScreener())
    uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                                  access_log=False)).run()


if __name__ == "__main__":
    main()
