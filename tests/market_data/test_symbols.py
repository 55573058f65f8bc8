from market_data.symbols import index_members, load_symbols, resolve_ticker


def test_symbol_table_holds_the_three_indices():
    symbols = load_symbols()
    assert len(index_members("sWIG80")) == 80
    assert len(index_members("mWIG40")) == 40
    assert len(index_members("WIG20")) == 20
    amica = symbols["AMC"]
    assert (amica.gpw_short_name, amica.isin, amica.index) == ("AMICA", "PLAMICA00010", "sWIG80")
    assert amica.name.startswith("AMICA")


def test_resolve_ticker_accepts_tickers_and_gpw_short_names():
    assert resolve_ticker("AMICA") == "AMC"
    assert resolve_ticker("apator") == "APT"
    assert resolve_ticker("ABE") == "ABE"
    assert resolve_ticker("NOT-A-STOCK") is None
