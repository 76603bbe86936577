package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class ScalePlotTest {
    @TempDir
    Path dir;

    @Test
    void eachRunAddsItsPointAndTheFileStaysWellFormedSvg() throws Exception {
        Path file = dir.resolve("plots/scale.svg");
        ScalePlot.add(file, new ScalePlot.Point(1000, 150_000, 141_000, 1.97));
        ScalePlot.add(file, new ScalePlot.Point(16, 2_304, 2_256, 0.46));
        ScalePlot.add(file, new ScalePlot.Point(10_000, 1_400_000, 1_410_000, Double.NaN));
        ScalePlot.add(file, new ScalePlot.Point(256, 36_666, 36_096, 0.67));
        ScalePlot.add(file, new ScalePlot.Point(1000, 143_148, 141_000, 1.5)); // the same N again: replaced

        Document svg = parse(file);
        assertEquals("svg", svg.getDocumentElement().getTagName());
        assertEquals("http://www.w3.org/2000/svg", svg.getDocumentElement().getNamespaceURI());
        assertEquals(List.of(
                        new ScalePlot.Point(16, 2_304, 2_256, 0.46),
                        new ScalePlot.Point(256, 36_666, 36_096, 0.67),
                        new ScalePlot.Point(1000, 143_148, 141_000, 1.5),
                        new ScalePlot.Point(10_000, 1_400_000, 1_410_000, Double.NaN)),
                ScalePlot.read(file), "one point per N, by N, the later run of an N kept");
        NodeList circles = svg.getElementsByTagNameNS("http://www.w3.org/2000/svg", "circle");
        assertEquals(4 + 3, circles.getLength(), "four requests points, three latencies (N = 10,000 did not commit everywhere)");
        int goals = 0;
        NodeList lines = svg.getElementsByTagNameNS("http://www.w3.org/2000/svg", "polyline");
        for (int i = 0; i < lines.getLength(); i++) {
            Element line = (Element) lines.item(i);
            if (line.getAttribute("class").equals("goal")) {
                goals++;
                assertEquals(4, line.getAttribute("points").trim().split(" ").length, "a goal line through every N");
            }
        }
        assertEquals(2, goals, "a goal line in each panel");
        assertTrue(Files.readString(file).contains("not every rank committed"));
    }

    @Test
    void aFileThatIsNotAPlotIsRefusedAndLeftAlone() throws IOException {
        Path file = dir.resolve("notes.svg");
        Files.writeString(file, "<svg><metadata><point ranks=\"x\"/></metadata></svg>");
        assertThrows(IOException.class, () -> ScalePlot.add(file, new ScalePlot.Point(16, 1, 1, 0.1)));
        assertEquals("<svg><metadata><point ranks=\"x\"/></metadata></svg>", Files.readString(file));
    }

    private static Document parse(Path file) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        return f.newDocumentBuilder().parse(file.toFile());
    }
}
