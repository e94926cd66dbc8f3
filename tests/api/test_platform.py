from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.mark.django_db
def test_health_reports_the_database(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_the_openapi_schema_documents_every_resource(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    for resource in ("patients", "procedures", "orders", "stations", "appointments", "worklist"):
        assert f"/api/v1/{resource}/" in paths
    assert "/api/v1/appointments/{id}/reschedule/" in paths
    assert "409" in schema["paths"]["/api/v1/appointments/"]["post"]["responses"]


@pytest.mark.django_db
def test_the_interactive_docs_are_served_without_internet(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html


@pytest.mark.django_db
def test_a_token_from_the_admin_authenticates(api_as: Any, scheduler: Any) -> None:
    assert api_as(scheduler).get("/api/v1/worklist/").status_code == 200


@pytest.mark.django_db
def test_the_front_page_asks_for_a_login_and_the_api_docs_stay_reachable(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/api-auth/login/").status_code == 200


@pytest.mark.django_db
def test_an_unknown_query_parameter_on_a_list_is_400_naming_it(scheduler: Any, order: Any) -> None:
    from tests.conftest import client_for

    api = client_for(scheduler)
    typo = api.get("/api/v1/orders/?modaliy=CT")
    assert typo.status_code == 400
    assert "'modaliy' is not a filter" in typo.json()["unknown_parameters"][0]
    assert api.get("/api/v1/orders/?page=1&page_size=10&ordering=-created_at").status_code == 200
    assert api.get("/api/v1/patients/?include_merged=true&q=Mwak").status_code == 200
    assert api.get(f"/api/v1/orders/{order.pk}/?anything=1").status_code == 200  # only lists are strict
