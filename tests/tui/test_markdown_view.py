"""Finished outputs as Markdown: split into blocks, rendered once per text and width, only as far as they
are looked at, never as console markup; the focus view reuses a render when a person comes back to an
agent or zooms out again."""

from __future__ import annotations

from rich.console import Console
from rich.style import Style
from textual.app import App, ComposeResult

from baton.sessions.store import Store
from baton.tui.widgets.focus_view import FocusView, output_markdown
from baton.tui.widgets.markdown_view import MarkdownCache, MarkdownView, Rendered, markdown_blocks
from tests.helpers import fan_out
from tests.tui.drive import app_for, running, until

SIZE = (160, 48)


def lines_of(rendered: Rendered) -> list[str]:
    return [strip.text.rstrip() for strip in rendered.strips]


def test_blocks_split_at_blank_lines_but_not_inside_code_or_before_a_continuation() -> None:
    text = "# Title\n\nOne.\nStill one.\n\n- a\n- b\n\n  more of b\n\n```\ncode\n\nmore code\n```\n\nLast."
    assert markdown_blocks(text) == [
        "# Title",
        "One.\nStill one.",
        "- a\n- b\n\n  more of b",
        "```\ncode\n\nmore code\n```",
        "Last.",
    ]
    assert markdown_blocks("") == []
    assert markdown_blocks("\n\n  \n") == []


def test_the_cache_gives_the_same_render_for_the_same_text_and_a_new_one_otherwise() -> None:
    cache = MarkdownCache(entries=2)
    style = Style()
    first = cache.get("# A\n\ntext", 40, style)
    assert cache.get("# A\n\ntext", 40, style) is first
    assert cache.get("# A\n\nother text", 40, style) is not first
    assert cache.get("# A\n\ntext", 60, style) is not first, "another width is another render"
    assert cache.get("# A\n\ntext", 40, Style(bold=True)) is not first, "another theme too"
    assert cache.get("# A\n\ntext", 40, style) is not first, "the oldest entries go"


def test_model_text_is_never_markup_and_a_link_shows_its_address() -> None:
    console = Console(width=80, force_terminal=True, color_system="truecolor")
    source = "Say [bold red]hi[/] to [the docs](https://example.com/x).\n\n**strong** words"
    rendered = MarkdownCache().get(source, 80, Style())
    rendered.render(console, lines=10**6)
    text = "\n".join(lines_of(rendered))
    assert "[bold red]hi[/]" in text
    assert "the docs (https://example.com/x)" in text
    assert "strong words" in text and "**" not in text, "Markdown is rendered"
    assert not any(seg.style and seg.style.link for strip in rendered.strips for seg in strip), "no hyperlinks"


class OneView(App[None]):
    def compose(self) -> ComposeResult:
        yield MarkdownView(MarkdownCache(), id="md")


async def test_what_is_in_view_renders_first_and_the_rest_follows() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(300)] + ["THE LAST LINE."]
    app = OneView()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(MarkdownView)
        view.update("\n\n".join(paragraphs))
        rendered = view.rendered
        assert rendered is not None
        assert len(rendered.strips) >= 20, "the first screen is there at once"
        assert not rendered.complete, "the rest renders between frames"
        await until(pilot, lambda: rendered.complete, what="every block rendered")
        assert view.virtual_size.height == len(rendered.strips)
        view.scroll_end(animate=False)
        await pilot.pause()
        assert lines_of(rendered)[-1] == "THE LAST LINE."
        view.update("short now")
        assert view.rendered is not rendered and lines_of(view.rendered)[0] == "short now"


async def test_the_focus_view_reuses_a_render_across_agents_and_zoom(store: Store) -> None:
    async with running(store, fan_out(2, tokens_per_s=0, tokens=600)) as session:
        app = app_for(session)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.run_screen
            assert screen is not None
            await until(pilot, lambda: screen.feed.view.status == "completed", timeout=60, what="the end")
            view = screen.query_one(FocusView).query_one(MarkdownView)

            async def shown(step: str) -> Rendered:
                screen.focus_step(step)
                output = output_markdown(screen.feed.view.steps[step].output)
                await until(
                    pilot, lambda: view.source == output and view.rendered is not None, what=f"{step}'s output"
                )
                assert view.rendered is not None
                return view.rendered

            first = await shown("fan/a00")
            other = await shown("fan/a01")
            assert other is not first
            assert await shown("fan/a00") is first, "coming back reuses the render"
            width = first.width
            await pilot.press("z")
            await until(pilot, lambda: view.rendered is not None and view.rendered.width > width, what="zoomed")
            zoomed = view.rendered
            await pilot.press("z")
            await until(pilot, lambda: view.rendered is not None and view.rendered.width == width, what="zoomed out")
            assert view.cache.get(view.source, width, first.style) is view.rendered
            await pilot.press("z")
            await until(pilot, lambda: view.rendered is zoomed, what="the zoomed render, reused")
            await pilot.press("q")
        await session.finish()
