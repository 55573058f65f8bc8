"""GET /symbols."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import ServicesDep
from gateway.api.errors import ERROR_RESPONSES
from gateway.schemas import SymbolInfo, SymbolsResponse
from market_data.symbols import load_symbols

router = APIRouter(tags=["symbols"], responses=ERROR_RESPONSES)


@router.get("/symbols", response_model=SymbolsResponse)
async def symbols(services: ServicesDep) -> SymbolsResponse:
    """The index members with their names, and any other stored symbol; each says whether bars are stored."""
    members = load_symbols()
    stored = await services.store.list_symbols()
    infos = []
    for ticker in sorted(set(members) | set(stored)):
        member, summary = members.get(ticker), stored.get(ticker)
        infos.append(SymbolInfo(
            symbol=ticker,
            name=member.name if member else None,
            isin=member.isin if member else None,
            index=member.index if member else None,
            data_available=summary is not None and summary.rows > 0,
            bars=summary.rows if summary else 0,
            first_date=summary.first if summary else None,
            last_date=summary.last if summary else None,
        ))
    return SymbolsResponse(symbols=infos, count=len(infos))
